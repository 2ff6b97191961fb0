"""The knowledge base: the operator's documents, cut into passages, embedded, shared in storage and
searched in memory by every instance."""
