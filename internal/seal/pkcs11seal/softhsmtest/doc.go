// Package softhsmtest prepares SoftHSM2 tokens for tests of the PKCS#11
// seal: a private token directory per test, so tests never touch a real
// token or each other's.
package softhsmtest
