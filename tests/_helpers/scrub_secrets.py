"""Seeded secrets for the scrubbing tests: one or more per detector kind, and look-alikes that must stay."""

from __future__ import annotations

#: One seeded secret per detector kind (the same set the every-sink test uses).
SECRETS: dict[str, list[str]] = {
    "EMAIL": ["jane.doe+billing@example.org"],
    "PHONE": ["+1 415 555 0132", "(415) 555-0199", "+44 20 7946 0958"],
    "PAYMENT_CARD": ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005"],
    "IBAN": ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432"],
    "NATIONAL_ID": ["078-05-1120", "AB 12 34 56 C"],
    "API_KEY": [
        "sk-proj-Q2hhdEdQVF9wcm9qZWN0X2tleV9leGFtcGxlMTIz",
        "sk-ant-api03-Zm9vYmFyYmF6cXV4X2FudGhyb3BpY19rZXlfZXhhbXBsZQ",
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_R2l0SHViUGVyc29uYWxBY2Nlc3NUb2tlbjAx",
        "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI",
    ],
    "BEARER_TOKEN": ["Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0X3BheWxvYWQ.c2lnbmF0dXJl"],
    "PRIVATE_KEY": [
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
        "-----END RSA PRIVATE KEY-----"
    ],
}
#: Look-alikes that fail their checksum (or are ordinary numbers): never scrubbed.
NEGATIVES = [
    "4111 1111 1111 1112",  # Luhn fails
    "DE89 3704 0044 0532 0130 01",  # mod-97 fails
    "order 2026-12-03T11:39:38.123456Z",
    "version 1.2.3, 12345 tokens, 8.7 million visitors",
    "model gpt-4o-2024-08-06",
    "chatcmpl-AbC123xyz",
    "ssn-like 000-12-3456",
]
