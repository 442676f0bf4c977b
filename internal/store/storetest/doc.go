// Package storetest is the conformance suite of the [store.Store] contract.
// Every backend's tests call [Run], and persistent backends also call
// [RunDurable], so each clause of the contract is checked the same way for
// bbolt, PostgreSQL, the in-memory store and the seal barrier.
//
// The suite imports only the standard library and package store, so any
// backend (or a wrapper such as the seal barrier) can run it.
package storetest
