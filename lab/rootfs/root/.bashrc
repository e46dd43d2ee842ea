# axha lab node: root's .bashrc (laid over the host's, whose pyenv init ran `pyenv rehash` in every SSH session
# and left a lock behind when a node lost power, hanging every later SSH command until it was removed)
[ -z "$PS1" ] && return
PS1='\h:\w\$ '
