-- The peer hub over HTTP (host/cfhub.go): its whole state, since every
-- Worker request is a fresh Go instance. Times are unix milliseconds.
-- Apply with: wrangler d1 migrations apply DB --local (or --remote).

-- A peer joined to a room. Rooms and their tokens are configuration
-- (EDGENN_HUB_ROOMS), not rows.
CREATE TABLE hub_peers (
  id        TEXT PRIMARY KEY,       -- the hub's id for it, "p" and 12 hex digits
  room      TEXT NOT NULL,
  secret    BLOB NOT NULL,          -- sha256 of the secret its requests carry
  name      TEXT NOT NULL,
  workers   INTEGER NOT NULL,       -- its caps, as in peer.Caps
  native    INTEGER NOT NULL,
  gflops    REAL NOT NULL,
  load      REAL NOT NULL DEFAULT 0, -- announced, plus what the hub matched since
  in_seq    INTEGER NOT NULL,       -- the last seq it sent
  op        TEXT NOT NULL,          -- the request that last raised in_seq: the rest of
                                    -- that request's batch is conditional on it
  out_seq   INTEGER NOT NULL,       -- the last seq the hub queued for it
  announce  BLOB,                   -- its last announce as passed on (from set), for newcomers
  announced INTEGER NOT NULL DEFAULT 0,
  expires   INTEGER NOT NULL,       -- dropped from then on, unless it sends or polls first
  dropped   TEXT NOT NULL DEFAULT '' -- why the hub dropped it early, "" if it did not
);
CREATE INDEX hub_peers_room ON hub_peers (room, id);
CREATE INDEX hub_peers_expires ON hub_peers (expires);

-- The models a peer announced, for offer requests to find holders.
CREATE TABLE hub_models (
  peer  TEXT NOT NULL,
  room  TEXT NOT NULL,
  model BLOB NOT NULL,              -- sha256 of the .enn file
  cuts  BLOB NOT NULL,              -- the cost profile, float32 little-endian
  PRIMARY KEY (peer, model)
);
CREATE INDEX hub_models_room ON hub_models (room, model);

-- What waits for a peer to poll it, in order. body is an encoded
-- peer.Message whose seq the poll sets to this row's.
CREATE TABLE hub_queue (
  peer    TEXT NOT NULL,
  seq     INTEGER NOT NULL,
  body    BLOB NOT NULL,
  cost    INTEGER NOT NULL,         -- its bytes plus 64, counted against the queue bound
  expires INTEGER NOT NULL,         -- dropped unread after
  PRIMARY KEY (peer, seq)
);
CREATE INDEX hub_queue_expires ON hub_queue (expires);
