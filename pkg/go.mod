module github.com/mongotron/mongotron/pkg

go 1.26

require github.com/holiman/uint256 v1.3.2
