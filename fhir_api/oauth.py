"""OAuth 2.0 for the FHIR API: the token endpoint's rules and the bearer-token check of every API call.

django-oauth-toolkit issues the tokens (client credentials grant); this module adds the clinic binding: only a
client registered here, and active, is given a token, and a token is good only while its client stays active.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from oauth2_provider.models import get_access_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator

from .models import FhirClient

NO_TOKEN = "This request needs an access token (Authorization: Bearer …) from the token endpoint."  # noqa: S105
INVALID_TOKEN = "The access token is not valid: unknown, revoked, or its client was deactivated."  # noqa: S105
EXPIRED_TOKEN = "The access token has expired: request a new one from the token endpoint."  # noqa: S105
CLIENT_NOT_BOUND = "This OAuth client is not registered for the FHIR API."


class FhirOAuth2Validator(OAuth2Validator):
    """django-oauth-toolkit's validator, giving tokens only to active clients bound to a clinic."""

    def authenticate_client(self, request: Any, *args: Any, **kwargs: Any) -> bool:
        if not super().authenticate_client(request, *args, **kwargs):
            return False
        return FhirClient.objects.filter(application=request.client, is_active=True).exists()


class TokenRefused(Exception):
    """A request without a usable bearer token: 401, with ``error`` for the WWW-Authenticate header."""

    def __init__(self, message: str, error: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.error = error


@dataclass(frozen=True)
class Grant:
    """What a valid access token allows: its client (and so its clinic) and its scopes."""

    client: FhirClient
    scopes: frozenset[str]


def bearer_token(authorization: str) -> str | None:
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def grant_for(authorization: str) -> Grant:
    """The grant of the bearer token in an ``Authorization`` header; ``TokenRefused`` without a valid one.

    One query: the token with its client, clinic and account. Tokens are looked up by their SHA-256 checksum,
    as django-oauth-toolkit stores them.
    """
    token = bearer_token(authorization)
    if token is None:
        raise TokenRefused(NO_TOKEN)
    checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
    access_token = (
        get_access_token_model()
        .objects.select_related("application__fhir_client__clinic", "application__fhir_client__account")
        .filter(token_checksum=checksum)
        .first()
    )
    if access_token is None or access_token.application is None:
        raise TokenRefused(INVALID_TOKEN, "invalid_token")
    if access_token.expires <= timezone.now():
        raise TokenRefused(EXPIRED_TOKEN, "invalid_token")
    client = getattr(access_token.application, "fhir_client", None)
    if client is None:
        raise TokenRefused(CLIENT_NOT_BOUND, "invalid_token")
    if not client.is_active:
        raise TokenRefused(INVALID_TOKEN, "invalid_token")
    return Grant(client=client, scopes=frozenset(access_token.scope.split()))
