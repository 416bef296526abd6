-- 0001_init: datasets with their rows, training tasks, learned prompts.
-- Times are ISO 8601 UTC text; JSON columns hold the objects the API returns.

CREATE TABLE datasets (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    n_rows      INTEGER NOT NULL CHECK (n_rows > 0),
    labels      TEXT NOT NULL,            -- JSON object: label -> row count
    sha256      TEXT NOT NULL,            -- of the uploaded TSV bytes
    created_at  TEXT NOT NULL
);

CREATE TABLE dataset_rows (
    dataset_id  INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,         -- 0-based position among the rows
    line        INTEGER NOT NULL,         -- 1-based line in the uploaded file
    label       TEXT NOT NULL,
    text        TEXT NOT NULL,
    PRIMARY KEY (dataset_id, idx)
) WITHOUT ROWID;

CREATE TABLE tasks (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    train_dataset   INTEGER REFERENCES datasets(id) ON DELETE SET NULL,
    dev_dataset     INTEGER REFERENCES datasets(id) ON DELETE SET NULL,
    config          TEXT NOT NULL,        -- JSON: the training configuration as given
    attempts        INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    progress        TEXT,                 -- JSON: epoch, step, total_steps, loss, dev, elapsed, eta
    metrics         TEXT,                 -- JSON: final dev metrics
    curve           TEXT,                 -- JSON: training curve, one entry per epoch
    error           TEXT,
    created_at      TEXT NOT NULL,
    started_at      TEXT,
    finished_at     TEXT
);

CREATE INDEX tasks_status ON tasks(status, id);
CREATE INDEX tasks_name ON tasks(name, id);
CREATE INDEX tasks_train_dataset ON tasks(train_dataset);
CREATE INDEX tasks_dev_dataset ON tasks(dev_dataset);

CREATE TABLE prompts (
    task_id     INTEGER PRIMARY KEY REFERENCES tasks(id) ON DELETE CASCADE,
    n_tokens    INTEGER NOT NULL CHECK (n_tokens > 0),
    dim         INTEGER NOT NULL CHECK (dim > 0),
    vectors     BLOB NOT NULL CHECK (length(vectors) = 4 * n_tokens * dim), -- little-endian F32, row-major
    template    TEXT NOT NULL,
    verbalizer  TEXT NOT NULL,            -- JSON object: label -> [words]
    labels      TEXT NOT NULL,            -- JSON array: the class order of the scores
    fingerprint TEXT NOT NULL,            -- sha256 of the backbone weights the prompt was trained on
    ptune_json  TEXT NOT NULL,            -- the export's ptune.json (config, metrics, curve)
    adapter_config TEXT NOT NULL          -- the export's adapter_config.json (HF PEFT keys)
);
