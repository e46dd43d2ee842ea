# axha lab node: root's .profile (the host's pyenv setup is not for the nodes)
[ -n "$BASH_VERSION" ] && [ -f ~/.bashrc ] && . ~/.bashrc
