//! kill -9 at random moments of an ingest, then a normal run: the lake ends exactly as an
//! uninterrupted run leaves it.
