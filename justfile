# Thin aliases; nothing here is needed to build or test (see README).

default: test

test:
    go test ./...

vet:
    go vet ./...

build:
    go build -o bin/runner -ldflags "-X github.com/runnerhq/runner/app.Version=$(git describe --always --dirty 2>/dev/null || echo dev) -X github.com/runnerhq/runner/app.Commit=$(git rev-parse HEAD 2>/dev/null)" .

# install binary, systemd unit, env file (kept if present) and completion, as root
install: build
    install -D -m 0755 bin/runner /usr/local/bin/runner
    install -D -m 0644 deploy/runner.service /etc/systemd/system/runner.service
    install -m 0644 deploy/runner-jobs.slice deploy/runner-backfill.service deploy/runner-backfill.timer deploy/runner-gc.service deploy/runner-gc.timer /etc/systemd/system/
    install -d -m 0755 /etc/runner
    test -e /etc/runner/runner.env || install -m 0644 deploy/runner.env /etc/runner/runner.env
    install -D -m 0644 deploy/completion/runner.bash /usr/share/bash-completion/completions/runner
    install -D -m 0644 deploy/completion/runner.zsh /usr/local/share/zsh/site-functions/_runner
    systemctl daemon-reload || true

bench:
    go test -run '^$' -bench . -benchmem ./...

run *ARGS:
    go run . {{ARGS}}
