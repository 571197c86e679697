# bash completion for runner: the binary answers `--generate-bash-completion`
# (urfave/cli) with the commands or flags that fit the words typed so far.
# Installed by `just install` to /usr/share/bash-completion/completions/runner;
# or: source deploy/completion/runner.bash

_runner_complete() {
    local cur="${COMP_WORDS[COMP_CWORD]}" opts
    # The words before the cursor; when a flag is being typed, that word too,
    # so runner lists flags instead of commands.
    local words=("${COMP_WORDS[@]:0:COMP_CWORD}")
    if [[ "$cur" == -* ]]; then
        words+=("$cur")
    fi
    opts=$("${words[@]}" --generate-bash-completion 2>/dev/null) || return 0
    local IFS=$'\n'
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}

complete -o bashdefault -o default -F _runner_complete runner
