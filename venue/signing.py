"""Verification of L1 action signatures, exactly as Hyperliquid recovers the signer.

The SDK signs an action's msgpack hash (keys in the order sent) as an EIP-712 `Agent` with source
"a" on mainnet and "b" elsewhere; any URL but the mainnet one signs as testnet, so a local venue
verifies with source "b". The recovered address *is* the verdict: a tampered action or signature
recovers some other address, which then does not exist (Hyperliquid answers the same way).
"""

from __future__ import annotations

from typing import Any

from eth_utils import keccak
from hyperliquid.utils.signing import (
    action_hash,
    recover_agent_or_user_from_l1_action,
    recover_user_from_user_signed_action,
)

try:  # secp256k1 in C: ~50 us a signature instead of ~1 ms through eth_account's encoder
    import coincurve as _coincurve
except ImportError:  # pragma: no cover - a dependency; the SDK's path still works without it
    _coincurve = None

APPROVE_AGENT_TYPES = [
    {"name": "hyperliquidChain", "type": "string"},
    {"name": "agentAddress", "type": "address"},
    {"name": "agentName", "type": "string"},
    {"name": "nonce", "type": "uint64"},
]


class SignatureUnrecoverable(ValueError):
    """The signature could not be parsed or yields no public key."""


# EIP-712 of an L1 action, computed directly: the domain is fixed, the message is one string and
# one bytes32, so the digest is three keccaks. eth_account's general encoder takes ~1 ms a
# signature, the order path's largest cost; tests/execution/test_rules.py holds this equal to the
# SDK's sign_l1_action and recover_agent_or_user_from_l1_action.
_DOMAIN_SEPARATOR = keccak(
    keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    + keccak(b"Exchange") + keccak(b"1") + (1337).to_bytes(32, "big") + bytes(32))
_AGENT_TYPE = keccak(b"Agent(string source,bytes32 connectionId)")


def l1_digest(action: dict[str, Any], vault_address: str | None, nonce: int,
              expires_after: int | None, is_mainnet: bool) -> bytes:
    """The 32-byte EIP-712 digest an L1 action's signature signs."""
    connection_id = action_hash(action, vault_address, nonce, expires_after)
    struct = keccak(_AGENT_TYPE + keccak(b"a" if is_mainnet else b"b") + connection_id)
    return keccak(b"\x19\x01" + _DOMAIN_SEPARATOR + struct)


def _fast_recover(digest: bytes, r: int, s: int, v: int) -> str | None:
    """The signer's address from a digest and r, s, v with coincurve; None without it."""
    if _coincurve is None:
        return None
    if v not in (27, 28) or not (0 < r < 2**256 and 0 < s < 2**256):
        raise SignatureUnrecoverable("bad r, s or v")
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v - 27])
    try:
        key = _coincurve.PublicKey.from_signature_and_message(sig, digest, hasher=None)
    except Exception as exc:
        raise SignatureUnrecoverable(str(exc)) from exc
    return "0x" + keccak(key.format(compressed=False)[1:])[-20:].hex()


def recover_signer(
    action: dict[str, Any],
    signature: dict[str, Any],
    nonce: int,
    vault_address: str | None = None,
    expires_after: int | None = None,
    is_mainnet: bool = False,
) -> str:
    """The lowercase 0x address that signed `action` with `nonce` (ms)."""
    try:
        sig = {
            "r": int(str(signature["r"]), 16),
            "s": int(str(signature["s"]), 16),
            "v": int(signature["v"]),
        }
        digest = l1_digest(action, vault_address, int(nonce), expires_after, is_mainnet)
        address = _fast_recover(digest, sig["r"], sig["s"], sig["v"])
        if address is None:
            address = recover_agent_or_user_from_l1_action(
                action, sig, vault_address, int(nonce), expires_after, is_mainnet
            )
    except Exception as exc:  # malformed r/s/v, bad curve point, unpackable action
        raise SignatureUnrecoverable(str(exc)) from exc
    return str(address).lower()


def recover_agent_approver(action: dict[str, Any], signature: dict[str, Any], is_mainnet: bool = False) -> str:
    """The lowercase address that signed an `approveAgent` action (a user-signed EIP-712 action).

    The SDK signs `agentName` "" for an unnamed agent and then drops the key before sending, so a
    missing name is put back before verifying.
    """
    message = dict(action)
    message.setdefault("agentName", "")
    try:
        sig = {"r": int(str(signature["r"]), 16), "s": int(str(signature["s"]), 16), "v": int(signature["v"])}
        address = recover_user_from_user_signed_action(
            message, sig, APPROVE_AGENT_TYPES, "HyperliquidTransaction:ApproveAgent", is_mainnet
        )
    except Exception as exc:
        raise SignatureUnrecoverable(str(exc)) from exc
    return str(address).lower()
