"""Each user's inbox: the notifications that bring a change to the person it concerns."""
