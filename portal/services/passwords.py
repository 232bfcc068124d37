"""Password hashing (argon2id) and the password policy."""

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 10

# The most common passwords of public breach lists that are long enough to pass the length
# rule; anything on it is refused at registration.
COMMON_PASSWORDS = frozenset(
    """
    1234567890 0123456789 12345678910 1111111111 0000000000 1234512345 qwertyuiop
    1q2w3e4r5t 1qaz2wsx3edc password1234 password123 password12 passw0rd123 iloveyou123
    qwerty1234 qwerty12345 qwertyuiop1 asdfghjkl1 zxcvbnm123 abcdefghij abcd123456
    123456789a a123456789 welcome123 welcome1234 letmein123 football123 baseball123
    princess123 sunshine123 trustno1234 superman123 dragon1234 monkey12345 starwars123
    changeme123 administrator admin12345 admin123456 qazwsxedcrfv 987654321a 9876543210
    1122334455 5555555555 7777777777 9999999999 123123123123 11223344556 1234qwerty
    qwerty123456 password2026 password2025 summer2026 winter2026 patient123 doctor1234
    """.split()
)

_hasher = PasswordHasher()  # argon2id with the library's current parameters


@cache
def _dummy_hash() -> str:
    return _hasher.hash("a password nobody has")


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if the password matches; spends the same time when there is no account."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str, email: str = "") -> str | None:
    """Why a new password is refused, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > 256:
        return "Use at most 256 characters."
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(lowered)) < 4:
        return "This password is too common; choose another."
    local_part = email.split("@", 1)[0].lower()
    if local_part and len(local_part) >= 4 and local_part in lowered:
        return "The password must not contain your email address."
    return None
