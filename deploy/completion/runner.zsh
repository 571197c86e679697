#compdef runner
# zsh completion for runner: the binary answers `--generate-bash-completion`
# (urfave/cli) with the commands or flags that fit the words typed so far.
# Installed by `just install` as _runner in a directory on $fpath; or:
# autoload -U compinit && compinit && source deploy/completion/runner.zsh

_runner() {
    local -a opts
    local cur=${words[CURRENT]}
    local -a typed=(${words[1,CURRENT-1]})
    if [[ "$cur" == -* ]]; then
        typed+=("$cur")
    fi
    opts=("${(@f)$(${typed[@]} --generate-bash-completion 2>/dev/null)}")
    if [[ -n "${opts[1]}" ]]; then
        compadd -a opts
    else
        _files
    fi
}

if [[ "$funcstack[1]" == "_runner" ]]; then
    _runner "$@"
else
    compdef _runner runner
fi
