"""Signature verification: the spec's test vector, and what a tampered action recovers."""

from __future__ import annotations

import eth_account
import requests
from hyperliquid.utils.signing import order_request_to_order_wire, order_wires_to_order_action, sign_l1_action
from hyperliquid.utils.types import Cloid

from venue.signing import recover_signer
from venue.testing import SimThread

VECTOR_KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"
VECTOR_ADDRESS = "0x14791697260E4c9A71f18484C9f997B308e59325"
VECTOR_SIG = {
    "r": "0xdf3ceabe210da5bde8583690ecba4c2e14309937492efcbf4143951497cc2985",
    "s": "0x75f05bb1a42f88bcf23aa2987edbf14db13cf3ad0cd9eb07421ceffcab47a67d",
    "v": 27,
}
VECTOR_NONCE = 1700000000000


def vector_action() -> dict:
    wire = order_request_to_order_wire(
        {
            "coin": "ETH",
            "is_buy": True,
            "sz": 0.01,
            "limit_px": 3000.5,
            "order_type": {"limit": {"tif": "Gtc"}},
            "reduce_only": False,
            "cloid": Cloid.from_int(7),
        },
        1,
    )
    return order_wires_to_order_action([wire])


def test_the_spec_vector_signs_and_verifies() -> None:
    wallet = eth_account.Account.from_key(VECTOR_KEY)
    assert wallet.address == VECTOR_ADDRESS
    assert sign_l1_action(wallet, vector_action(), None, VECTOR_NONCE, None, False) == VECTOR_SIG
    assert recover_signer(vector_action(), VECTOR_SIG, VECTOR_NONCE) == VECTOR_ADDRESS.lower()


def test_a_tampered_action_recovers_someone_else() -> None:
    action = vector_action()
    action["orders"][0]["p"] = "3000.6"
    assert recover_signer(action, VECTOR_SIG, VECTOR_NONCE) != VECTOR_ADDRESS.lower()
    assert recover_signer(vector_action(), VECTOR_SIG, VECTOR_NONCE + 1) != VECTOR_ADDRESS.lower()
    # A mainnet signature is not a testnet one.
    assert recover_signer(vector_action(), VECTOR_SIG, VECTOR_NONCE, is_mainnet=True) != VECTOR_ADDRESS.lower()


def test_the_venue_refuses_a_bad_signature_as_hyperliquid_does(sim: SimThread, wallet) -> None:
    import time

    nonce = int(time.time() * 1000)
    action = vector_action()
    signature = sign_l1_action(wallet, action, None, nonce, None, False)
    tampered = vector_action()
    tampered["orders"][0]["s"] = "0.02"
    stranger = recover_signer(tampered, signature, nonce)
    body = {"action": tampered, "nonce": nonce, "signature": signature, "vaultAddress": None, "expiresAfter": None}
    reply = requests.post(sim.url + "/exchange", json=body, timeout=10).json()
    assert reply == {"status": "err", "response": f"User or API Wallet {stranger} does not exist."}
    garbage = dict(body, signature={"r": "0x0", "s": "0x0", "v": 27})
    reply = requests.post(sim.url + "/exchange", json=garbage, timeout=10).json()
    assert reply == {"status": "err", "response": "Unable to recover signer."}
