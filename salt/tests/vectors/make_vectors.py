#!/usr/bin/env python3
"""
Test vectors for reqchan-salt, made by Salt's own code (salt 3007.16, `salt.crypt`).

Run with the Salt venv (scripts/check makes it):
    .venv-salt/bin/python salt/tests/vectors/make_vectors.py > salt/tests/vectors/salt_crypt.json

Every value that involves randomness (OAEP, the Crypticle IV) is made by Salt, so the
Rust side checks it can *read* what Salt writes; the deterministic ones (X9.31, PKCS#1
v1.5 signatures, fingerprints) it must reproduce byte for byte.
"""
import base64
import hashlib
import json
import os
import sys
import tempfile

import salt.crypt
import salt.payload
import salt.utils.crypt


def hexs(b):
    return b.hex()


def main():
    out = {"salt_version": __import__("salt.version").version.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        salt.crypt.gen_keys(tmp, "minion", 2048)
        salt.crypt.gen_keys(tmp, "master", 2048)
        read = lambda name: open(os.path.join(tmp, name)).read()
        out["minion_pem"], out["minion_pub"] = read("minion.pem"), read("minion.pub")
        out["master_pem"], out["master_pub"] = read("master.pem"), read("master.pub")
        minion = salt.crypt.PrivateKey(os.path.join(tmp, "minion.pem"))
        minion_pub = salt.crypt.PublicKey(os.path.join(tmp, "minion.pub"))
        master = salt.crypt.PrivateKey(os.path.join(tmp, "master.pem"))
        master_pub = salt.crypt.PublicKey(os.path.join(tmp, "master.pub"))

        # The minion's request token: X9.31 private operation over b"salt".
        out["tok"] = hexs(minion.encrypt(b"salt"))
        assert minion_pub.decrypt(bytes.fromhex(out["tok"])) == b"salt"

        # Session and publish keys as the master makes them, OAEP-SHA1 to the minion.
        session = salt.crypt.Crypticle.generate_key_string()
        aes = salt.crypt.Crypticle.generate_key_string()
        out["session_key"] = session
        out["aes_key"] = aes
        out["session_oaep"] = hexs(minion_pub.encrypt(session))
        # The master's X9.31 signature over sha256(aes).hexdigest().
        digest = hashlib.sha256(aes.encode()).hexdigest().encode()
        out["aes_sig"] = hexs(master.encrypt(digest))
        assert master_pub.decrypt(bytes.fromhex(out["aes_sig"])) == digest

        # An accepted _auth reply, signed as the master's _clear_signed does.
        nonce = "0123456789abcdef0123456789abcdef"
        inner = {
            "enc": "pub",
            "pub_key": salt.crypt.clean_key(out["master_pub"]),
            "publish_port": 4505,
            "aes": minion_pub.encrypt(aes),
            "session": bytes.fromhex(out["session_oaep"]),
            "sig": bytes.fromhex(out["aes_sig"]),
            "nonce": nonce,
        }
        inner_bytes = salt.payload.dumps(inner)
        reply = {"enc": "clear", "load": inner_bytes, "sig": master.sign(inner_bytes)}
        out["auth_nonce"] = nonce
        out["auth_reply"] = hexs(salt.payload.dumps(reply))
        out["auth_inner_sig"] = hexs(reply["sig"])
        # A pending one (the key waits in minions_pre/).
        pending = salt.payload.dumps({"ret": True, "nonce": nonce})
        out["pending_reply"] = hexs(salt.payload.dumps({"enc": "clear", "load": pending, "sig": master.sign(pending)}))

        # Rejected, and full.
        for name, ret in (("rejected_reply", False), ("full_reply", "full")):
            inner = salt.payload.dumps({"ret": ret, "nonce": nonce})
            out[name] = hexs(salt.payload.dumps({"enc": "clear", "load": inner, "sig": master.sign(inner)}))

        # The session cipher: a request load, and a reply with its nonce in front.
        crypticle = salt.crypt.Crypticle({}, session)
        request = {"cmd": "_master_opts", "env_only": True, "nonce": nonce, "id": "minion-1"}
        out["request_plain"] = hexs(salt.payload.dumps(request))
        out["request_cipher"] = hexs(crypticle.dumps(request))
        reply_value = {"file_roots": {"base": []}, "default_top": "base"}
        out["reply_plain"] = hexs(salt.payload.dumps(reply_value))
        out["reply_cipher"] = hexs(crypticle.dumps(reply_value, nonce=nonce))
        assert crypticle.loads(bytes.fromhex(out["reply_cipher"]), nonce=nonce) == reply_value

        # salt.utils.crypt.pem_finger (sha256), the form of master_finger.
        out["master_finger"] = salt.utils.crypt.pem_finger(key=out["master_pub"].encode())
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
