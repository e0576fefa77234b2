package testenv

import "github.com/mongotron/mongotron/pkg/service/servicetest"

// SyncBuffer is [servicetest.SyncBuffer], here beside the other helpers of
// tests that run servers.
type SyncBuffer = servicetest.SyncBuffer
