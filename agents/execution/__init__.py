"""The execution agent: the only process that signs orders for the venue, one per account."""
