"""The axha lab's DRBD stand-in: userland programs and a per-resource daemon that play the kernel's part."""
