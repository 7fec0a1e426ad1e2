"""Access and refresh tokens: issue, verify (cached), rotate with reuse detection, revoke.

Each login starts a refresh *family*. Redis holds the one refresh ``jti`` of a family that may
still be exchanged; presenting any other member of the family means a stolen token was replayed,
so the whole family is revoked. Access tokens carry their family, and every authenticated request
checks the family's revocation marker in the same Redis call that counts its rate limit, so
logout and reuse detection take effect at once on every replica.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import jwt
from cachetools import LRUCache
from redis.asyncio import Redis

from api.auth.keys import ALGORITHM, KeyRing
from api.errors import Unauthorized
from api.http import Principal
from api.ratelimit import revocation_key
from core.config import Settings

# Returns 1 rotated, 0 unknown/expired family, -1 reuse detected (family revoked).
_ROTATE = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if current ~= ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[4])
  return -1
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""


def family_key(account_id: str, family: str) -> str:
    return f"auth:family:{{{account_id}}}:{family}"


@dataclass(frozen=True, slots=True)
class Subject:
    """What goes into an access token about its account."""

    account_id: str
    role: str
    plan: str
    country: str


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


class TokenService:
    def __init__(
        self,
        redis: Redis,
        keys: KeyRing,
        *,
        issuer: str,
        access_ttl_s: int,
        refresh_ttl_s: int,
        cache_size: int = 100_000,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._issuer = issuer
        self._access_ttl = access_ttl_s
        self._refresh_ttl = refresh_ttl_s
        self._rotate = redis.register_script(_ROTATE)
        # Verified access tokens: a signature check costs ~150 µs, a dict hit well under 1 µs.
        # Revocation is not cached here; it is checked in Redis on every request.
        self._verified: LRUCache[str, Principal] = LRUCache(maxsize=cache_size)

    @classmethod
    def for_settings(cls, redis: Redis, keys: KeyRing, settings: Settings) -> TokenService:
        return cls(
            redis,
            keys,
            issuer=settings.jwt_issuer,
            access_ttl_s=settings.access_ttl_s,
            refresh_ttl_s=settings.refresh_ttl_s,
            cache_size=settings.runtime.token_cache_size,
        )

    def resize_cache(self, size: int) -> None:
        if size != self._verified.maxsize:
            self._verified = LRUCache(maxsize=size)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return self._keys.jwks()

    def _sign(self, claims: dict[str, object]) -> str:
        key = self._keys.active
        return jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})

    def _decode(self, token: str, expected_type: str) -> dict[str, object]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._keys.get(str(kid))
            if key is None:
                raise Unauthorized("Token signed by an unknown key")
            claims: dict[str, object] = jwt.decode(
                token,
                key.public,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "jti", "fam", "typ"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("Token expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("Invalid token") from None
        if claims.get("typ") != expected_type:
            raise Unauthorized(f"Not an {expected_type} token")
        return claims

    def _sign_pair(self, subject: Subject, family: str) -> tuple[TokenPair, str]:
        """Sign an access/refresh pair in ``family``; returns it with the refresh ``jti``."""
        now = int(time.time())
        refresh_jti = secrets.token_urlsafe(16)
        common = {"iss": self._issuer, "sub": subject.account_id, "iat": now, "fam": family}
        access = self._sign(
            {
                **common,
                "typ": "access",
                "jti": secrets.token_urlsafe(12),
                "exp": now + self._access_ttl,
                "role": subject.role,
                "plan": subject.plan,
                "country": subject.country,
            }
        )
        refresh = self._sign(
            {**common, "typ": "refresh", "jti": refresh_jti, "exp": now + self._refresh_ttl}
        )
        return TokenPair(access, refresh, self._access_ttl), refresh_jti

    async def issue(self, subject: Subject) -> TokenPair:
        """A sign-in: a new refresh family whose only exchangeable token is the one returned."""
        family = secrets.token_urlsafe(12)
        pair, refresh_jti = self._sign_pair(subject, family)
        await self._redis.set(
            family_key(subject.account_id, family), refresh_jti, ex=self._refresh_ttl
        )
        return pair

    def verify_access(self, token: str) -> Principal:
        """Signature, expiry and claims; cached per token string. Revocation is checked apart."""
        cached = self._verified.get(token)
        if cached is not None:
            if cached.expires_at > time.time():
                return cached
            del self._verified[token]
            raise Unauthorized("Token expired")
        claims = self._decode(token, "access")
        principal = Principal(
            account_id=str(claims["sub"]),
            role=str(claims.get("role", "user")),
            plan=str(claims.get("plan", "standard")),
            country=str(claims.get("country", "US")),
            family=str(claims["fam"]),
            expires_at=int(str(claims["exp"])),
        )
        self._verified[token] = principal
        return principal

    def read_refresh(self, token: str) -> tuple[str, str, str]:
        """(account_id, family, jti) of a validly signed, unexpired refresh token."""
        claims = self._decode(token, "refresh")
        return str(claims["sub"]), str(claims["fam"]), str(claims["jti"])

    async def rotate(self, subject: Subject, *, family: str, jti: str) -> TokenPair:
        """Exchange refresh token ``jti`` of ``family`` for a new pair (see :meth:`read_refresh`).

        Only the family's latest token may be exchanged; replaying an older one means it leaked,
        so the family and its access tokens are revoked.
        """
        account_id = subject.account_id
        pair, new_jti = self._sign_pair(subject, family)
        outcome = int(
            await self._rotate(
                keys=[family_key(account_id, family), revocation_key(account_id, family)],
                args=[jti, new_jti, self._refresh_ttl, self._access_ttl],
            )
        )
        if outcome == -1:
            raise Unauthorized("Refresh token reuse detected: this sign-in has been revoked")
        if outcome == 0:
            raise Unauthorized("Refresh token is no longer valid")
        return pair

    async def revoke_family(self, account_id: str, family: str) -> None:
        """Logout: the refresh family stops working and its access tokens are refused at once."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(family_key(account_id, family))
            pipe.set(revocation_key(account_id, family), "1", ex=self._access_ttl)
            await pipe.execute()
