"""Verification of L1 action signatures, exactly as Hyperliquid recovers the signer.

The SDK signs an action's msgpack hash (keys in the order sent) as an EIP-712 `Agent` with source
"a" on mainnet and "b" elsewhere; any URL but the mainnet one signs as testnet, so a local venue
verifies with source "b". The recovered address *is* the verdict: a tampered action or signature
recovers some other address, which then does not exist (Hyperliquid answers the same way).
"""

from __future__ import annotations

from typing import Any

from hyperliquid.utils.signing import recover_agent_or_user_from_l1_action, recover_user_from_user_signed_action

APPROVE_AGENT_TYPES = [
    {"name": "hyperliquidChain", "type": "string"},
    {"name": "agentAddress", "type": "address"},
    {"name": "agentName", "type": "string"},
    {"name": "nonce", "type": "uint64"},
]


class SignatureUnrecoverable(ValueError):
    """The signature could not be parsed or yields no public key."""


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
