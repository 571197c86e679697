# Thin aliases; nothing here is needed to build or test (see README).

default: test

test:
    go test ./...

vet:
    go vet ./...

build:
    go build -o bin/runner -ldflags "-X github.com/runnerhq/runner/app.Version=$(git describe --always --dirty 2>/dev/null || echo dev)" .

bench:
    go test -run '^$' -bench . -benchmem ./...

run *ARGS:
    go run . {{ARGS}}
