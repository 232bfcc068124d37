"""Video: Twilio Video rooms and access tokens, or local rooms for the embedded default.

Creating a room is the only network call. A token is signed here, from the API key and
secret, for a room that already exists: no request waits on Twilio.
"""

import logging
from typing import Protocol

from twilio.base.exceptions import TwilioRestException
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VideoGrant

from portal.providers.twilio_client import classify, make_twilio_client

log = logging.getLogger(__name__)

ROOM_NAME_IN_USE = 53113  # Twilio: "Room exists" (an in-progress room has this unique name)
LOCAL_ACCOUNT_SID = "AC" + "0" * 32
LOCAL_KEY_SID = "SK" + "0" * 32


class VideoProvider(Protocol):
    def create_room(self, name: str, unused_timeout_minutes: int) -> str:
        """Make the room (or find the one already made under that name); return its id."""
        ...

    def access_token(self, room_name: str, identity: str, ttl_seconds: int) -> str:
        """Sign a token that lets `identity` join `room_name`; no network call."""
        ...


def _sign(account_sid: str, key_sid: str, secret: str, room: str, identity: str, ttl: int) -> str:
    token = AccessToken(account_sid, key_sid, secret, identity=identity, ttl=ttl)
    token.add_grant(VideoGrant(room=room))
    return token.to_jwt()


class LocalVideo:
    """The embedded default: rooms are names, tokens are signed with the app's secret key."""

    def __init__(self, secret: str):
        self.secret = secret

    def create_room(self, name: str, unused_timeout_minutes: int) -> str:
        log.info("local video room %s (unused timeout %s min)", name, unused_timeout_minutes)
        return f"local-{name}"

    def access_token(self, room_name: str, identity: str, ttl_seconds: int) -> str:
        return _sign(
            LOCAL_ACCOUNT_SID, LOCAL_KEY_SID, self.secret, room_name, identity, ttl_seconds
        )


class TwilioVideo:
    """Twilio Video group rooms with a unique name per appointment."""

    def __init__(self, config):
        self.client = make_twilio_client(config)
        self.account_sid = config["TWILIO_ACCOUNT_SID"]
        self.api_key = config["TWILIO_API_KEY"]
        self.api_secret = config["TWILIO_API_SECRET"]

    def create_room(self, name: str, unused_timeout_minutes: int) -> str:
        try:
            room = self.client.video.v1.rooms.create(
                unique_name=name,
                type="group",
                unused_room_timeout=unused_timeout_minutes,
                empty_room_timeout=min(unused_timeout_minutes, 15),
            )
            return _room_sid(room)
        except TwilioRestException as error:
            if error.code != ROOM_NAME_IN_USE:
                raise classify(error) from error
        except Exception as error:
            raise classify(error) from error
        # Made by an earlier attempt whose answer we lost: use it rather than make a second.
        try:
            return _room_sid(self.client.video.v1.rooms(name).fetch())
        except Exception as error:
            raise classify(error) from error

    def access_token(self, room_name: str, identity: str, ttl_seconds: int) -> str:
        return _sign(
            self.account_sid, self.api_key, self.api_secret, room_name, identity, ttl_seconds
        )


def _room_sid(room) -> str:
    sid = getattr(room, "sid", None)
    if not sid:
        raise ValueError("Twilio answered without a room sid")
    return sid


def make_video_provider(config) -> VideoProvider:
    """Twilio when VIDEO_PROVIDER is "twilio", else local rooms."""
    if config["VIDEO_PROVIDER"] == "twilio":
        return TwilioVideo(config)
    return LocalVideo(config["SECRET_KEY"])
