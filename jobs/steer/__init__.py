"""The fast jobs that steer runs without being one: stop, retry, help, cancel, places in line,
installation changes, missed deliveries."""
