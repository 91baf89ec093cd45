"""Acceptance 4: ima2-gen's sessions.db imports once, read-only, into flat session files."""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys

from helpers import ROOT, LiveServer, base_env

SHEET = {"palette": ["red"], "composition": "", "mood": "calm", "medium": "oil",
         "subject_details": "", "negative": []}
SID_A = "s_01HZX3V6Q2M4N5P6R7S8T9V0WX"
SID_B = "s_01HZX3V6Q2M4N5P6R7S8T9V0WY"

SNAKE = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sessions (id TEXT PRIMARY KEY, title TEXT NOT NULL DEFAULT 'Untitled',
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  graph_version INTEGER NOT NULL DEFAULT 0, style_sheet TEXT,
  style_sheet_enabled INTEGER NOT NULL DEFAULT 0);
CREATE TABLE nodes (session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  id TEXT NOT NULL, x REAL NOT NULL DEFAULT 0, y REAL NOT NULL DEFAULT 0,
  data TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (session_id, id));
CREATE TABLE edges (session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  id TEXT NOT NULL, source TEXT NOT NULL, target TEXT NOT NULL,
  data TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (session_id, id));
CREATE TABLE inflight (request_id TEXT PRIMARY KEY, kind TEXT, prompt TEXT, meta TEXT,
  started_at INTEGER, phase TEXT, phase_at INTEGER);
"""
CAMEL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sessions (id TEXT PRIMARY KEY, title TEXT, createdAt INTEGER, updatedAt INTEGER,
  graphVersion INTEGER, styleSheet TEXT, styleSheetEnabled INTEGER);
CREATE TABLE nodes (sessionId TEXT, id TEXT, x REAL, y REAL, data TEXT,
  PRIMARY KEY (sessionId, id));
CREATE TABLE edges (sessionId TEXT, id TEXT, source TEXT, target TEXT, data TEXT);
"""


def build_db(path, schema=SNAKE):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(schema)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '3')")
    conn.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (SID_A, "Portraits", 1700000000000, 1700000500000, 7, json.dumps(SHEET), 1))
    conn.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (SID_B, "Empty", 1700000100000, 1700000100000, 0, None, 0))
    nodes = [("z", 10.5, -3, {"serverNodeId": "n_aa", "imageUrl": "/generated/n_aa.png",
                              "parentServerNodeId": None}),
             ("a", 200, 40, {"serverNodeId": "n_bb", "parentServerNodeId": "n_aa"}),
             ("m", 0, 0, "not json")]
    for node_id, x, y, data in nodes:
        conn.execute("INSERT INTO nodes VALUES (?, ?, ?, ?, ?)",
                     (SID_A, node_id, x, y, data if isinstance(data, str) else json.dumps(data)))
    conn.execute("INSERT INTO edges VALUES (?, ?, ?, ?, ?)",
                 (SID_A, "e1", "z", "a", json.dumps({"label": "edit"})))
    conn.execute("INSERT INTO inflight VALUES ('r1', 'node', 'p', '{}', 1, 'queued', 1)"
                 if "inflight" in schema else "SELECT 1")
    conn.commit()
    conn.close()


def _fingerprint(path):
    folder = os.path.dirname(path)
    with open(path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    return digest, os.stat(path).st_mtime_ns, sorted(
        n for n in os.listdir(folder) if n.startswith("sessions.db"))


def _doctor(env):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "ima2.py"), "doctor"], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    return proc.stdout + proc.stderr


def _check_imported(live):
    rows = {r["id"]: r for r in live.get("/api/sessions").json()["sessions"]}
    assert set(rows) == {SID_A, SID_B}  # no default session next to imported ones
    assert rows[SID_A] == {"id": SID_A, "title": "Portraits", "createdAt": 1700000000000,
                           "updatedAt": 1700000500000, "graphVersion": 7, "nodeCount": 3}
    doc = live.get("/api/sessions/%s" % SID_A).json()["session"]
    assert [n["id"] for n in doc["nodes"]] == ["z", "a", "m"]  # insertion order kept
    assert doc["nodes"][0] == {"id": "z", "x": 10.5, "y": -3, "data": {
        "serverNodeId": "n_aa", "imageUrl": "/generated/n_aa.png", "parentServerNodeId": None}}
    assert doc["nodes"][1]["x"] == 200 and doc["nodes"][1]["data"]["parentServerNodeId"] == \
        "n_aa"
    assert doc["nodes"][2]["data"] == {}  # unparsable stored data reads as {}
    assert doc["edges"] == [{"id": "e1", "source": "z", "target": "a",
                             "data": {"label": "edit"}}]
    assert live.get("/api/sessions/%s/style-sheet" % SID_A).json() == {"styleSheet": SHEET,
                                                                         "enabled": True}
    assert live.get("/api/sessions/%s/style-sheet" % SID_B).json() == {"styleSheet": None,
                                                                         "enabled": False}
    assert live.app.style_sheet_for(SID_A)["prefix"] == "Medium: oil. Palette: red. Mood: calm."
    # the imported version is the one a client must send next
    resp = live.request("PUT", "/api/sessions/%s/graph" % SID_A,
                        json_body={"nodes": [], "edges": []}, headers={"If-Match": "7"})
    assert resp.status == 200 and resp.json()["graphVersion"] == 8


def test_import_from_ima2_gen_database(tmp):
    env = base_env(tmp, IMA2_LOG_LEVEL="info")
    db = os.path.join(env["IMA2_CONFIG_DIR"], "sessions.db")
    build_db(db)
    before = _fingerprint(db)
    with LiveServer(tmp, env=env) as live:
        _check_imported(live)
    assert _fingerprint(db) == before  # the database is untouched, no -wal/-shm appeared
    marker = json.load(open(os.path.join(env["IMA2_CONFIG_DIR"], "sessions", ".imported.json")))
    assert marker["state"] == "done" and marker["sessions"] == 2 and marker["nodes"] == 3
    assert marker["edges"] == 1 and marker["schemaVersion"] == "3"
    assert "imported 2 session(s), 3 node(s), 1 edge(s) from %s" % db in _doctor(env)
    # once only: a deleted imported session does not come back
    with LiveServer(tmp, env=env) as live:
        assert live.request("DELETE", "/api/sessions/%s" % SID_B).status == 200
    with LiveServer(tmp, env=env) as live:
        ids = [r["id"] for r in live.get("/api/sessions").json()["sessions"]]
        assert ids == [SID_A]


def test_import_tolerates_camel_case_columns(tmp):
    env = base_env(tmp)
    build_db(os.path.join(env["IMA2_CONFIG_DIR"], "sessions.db"), schema=CAMEL)
    with LiveServer(tmp, env=env) as live:
        _check_imported(live)


def test_interrupted_import_is_redone(tmp):
    env = base_env(tmp)
    db = os.path.join(env["IMA2_CONFIG_DIR"], "sessions.db")
    build_db(db)
    with LiveServer(tmp, env=env):
        pass
    folder = os.path.join(env["IMA2_CONFIG_DIR"], "sessions")
    os.unlink(os.path.join(folder, SID_B + ".json"))
    with open(os.path.join(folder, ".imported.json"), "w") as handle:
        json.dump({"state": "running", "source": db}, handle)
    assert "interrupted" in _doctor(env)
    with LiveServer(tmp, env=env) as live:
        _check_imported(live)


def test_existing_flat_sessions_win(tmp):
    env = base_env(tmp)
    with LiveServer(tmp, env=env) as live:
        titles = [r["title"] for r in live.get("/api/sessions").json()["sessions"]]
    assert titles == ["My first graph"]
    db = os.path.join(env["IMA2_CONFIG_DIR"], "sessions.db")
    build_db(db)
    with LiveServer(tmp, env=env) as live:
        titles = [r["title"] for r in live.get("/api/sessions").json()["sessions"]]
    assert titles == ["My first graph"]
    assert "not imported (flat-file sessions already exist)" in _doctor(env)


def test_corrupt_database_does_not_stop_the_server(tmp):
    env = base_env(tmp)
    db = os.path.join(env["IMA2_CONFIG_DIR"], "sessions.db")
    os.makedirs(os.path.dirname(db), exist_ok=True)
    with open(db, "wb") as handle:
        handle.write(b"this is not a database" * 100)
    with LiveServer(tmp, env=env) as live:
        titles = [r["title"] for r in live.get("/api/sessions").json()["sessions"]]
    assert titles == ["My first graph"]
    assert "import of %s failed" % db in _doctor(env)


def test_doctor_without_database(tmp):
    env = base_env(tmp)
    out = _doctor(env)
    assert "Sessions" in out and "nothing to import" in out


def test_import_while_ima2_gen_holds_the_database_open(tmp):
    """A live WAL writer: committed rows still in the -wal file are imported too."""
    env = base_env(tmp)
    db = os.path.join(env["IMA2_CONFIG_DIR"], "sessions.db")
    build_db(db)
    writer = sqlite3.connect(db)
    try:
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("UPDATE sessions SET title = 'Renamed in WAL' WHERE id = ?", (SID_B,))
        writer.commit()
        assert os.path.getsize(db + "-wal") > 0
        with LiveServer(tmp, env=env) as live:
            rows = {r["id"]: r for r in live.get("/api/sessions").json()["sessions"]}
        assert rows[SID_B]["title"] == "Renamed in WAL"
    finally:
        writer.close()
