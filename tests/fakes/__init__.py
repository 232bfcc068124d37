"""Fakes at the HTTP boundary of the providers: nothing inside the project is patched.

- twilio.FakeTwilio: a local HTTP server that answers Twilio's Messages and Rooms APIs
  (point TWILIO_BASE_URL at it), and can throttle, fail, stall or answer garbage.
- ses.MotoSes: moto's ThreadedMotoServer for SES, with what was sent read from moto's record.
- ses.ThrottlingSes: a proxy in front of moto that answers SES's Throttling error, garbage,
  or holds a call, on the calls you choose, and forwards everything else to moto.
"""
