module github.com/mongotron/mongotron/services/ingest

go 1.26

require github.com/mongotron/mongotron/pkg v0.0.0

replace github.com/mongotron/mongotron/pkg => ../../pkg
