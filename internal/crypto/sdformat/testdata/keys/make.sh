#!/bin/sh
# Makes the key pairs the tests use: four key holders' wrapping keys and a
# recovering HSM's transfer key, as the Managed HSM documentation has key
# holders make them (NAME.pem private key, NAME.cer certificate, both PEM).
# They are test fixtures: never use them for anything else.
set -e
cd "$(dirname "$0")"
for name in holder0 holder1 holder2 holder3 exchange; do
	openssl req -newkey rsa:2048 -nodes -keyout "$name.pem" -x509 -days 36500 \
		-subj "/CN=sdformat test $name" -out "$name.cer" 2>/dev/null
done
