#!/usr/bin/python3
"""Writes the python-pskc test files in this directory (Debian: python3-pskc).

The tests read the files written here; they never run Python. IVs and MAC
keys are random, so each run writes different bytes with the same content.
"""
import pskc

HOTP = 'urn:ietf:params:xml:ns:keyprov:pskc:hotp'
TOTP = 'urn:ietf:params:xml:ns:keyprov:pskc:totp'


def tokens(p):
    p.add_key(
        id='k1', serial='PYHOTP-0001', manufacturer='Example Tokens',
        model='H-100', issuer='twostep-test', algorithm=HOTP,
        secret=b'12345678901234567890', counter=5,
        response_length=6, response_encoding='DECIMAL')
    p.add_key(
        id='k2', serial='PYTOTP-0002', manufacturer='Example Tokens',
        model='T-200', algorithm=TOTP,
        secret=b'abcdefghijklmnopqrst', time_offset=0, time_interval=30,
        response_length=8, response_encoding='DECIMAL')
    p.add_key(
        id='k3', serial='PYTOTP-0003', manufacturer='Example Tokens',
        algorithm=TOTP, algorithm_suite='HMAC-SHA256',
        secret=b'12345678901234567890123456789012', time_interval=60,
        response_length=6, response_encoding='DECIMAL')


plain = pskc.PSKC()
tokens(plain)
plain.write('python-pskc-plain.xml')

aes128 = pskc.PSKC()
tokens(aes128)
aes128.encryption.setup_preshared_key(
    key=bytes.fromhex('0f1e2d3c4b5a69788796a5b4c3d2e1f0'),
    key_name='Pre-shared-key', algorithm='aes128-cbc',
    fields=['secret', 'counter', 'time_offset', 'time_interval'])
aes128.write('python-pskc-aes128.xml')

aes256 = pskc.PSKC()
tokens(aes256)
aes256.encryption.setup_preshared_key(
    key=bytes.fromhex(
        '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'),
    key_name='Transport key 2', algorithm='aes256-cbc')
aes256.mac.setup(algorithm='hmac-sha256')
aes256.write('python-pskc-aes256.xml')
