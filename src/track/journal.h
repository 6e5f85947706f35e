/*
** The ingest journal: an append-only log of accepted tracking batches, so a
** beacon can be answered once its batch is in the journal instead of once it
** is committed to the database (docs/storage.md, "The ingest journal").
**
** The loop thread appends records to a buffer (em_journal_add) and writes
** the buffer with one write(2) per loop turn (em_journal_write): after that
** the records survive a crash of the process, as a COMMIT in WAL mode with
** synchronous=normal does. The store applies them later; the highest applied
** record's number is committed with the data it produced (the caller's
** business), and em_journal_applied tells the journal, which then drops what
** is no longer needed. At start-up em_journal_open hands every record after
** the applied one to a replay function.
**
** Files: <dir>/<first record number, 16 hex digits>.log, at most
** EM_JOURNAL_SEGMENT_MAX bytes each; a record is
**     u32 payload length, u32 CRC of number and payload, u64 number, payload
** in little-endian order. The CRC is a CRC-32C, and the length word's top
** bit says so; records without that bit (written by earlier versions)
** carry a CRC-32 (zlib's) and are read as well. A record cut short or
** failing its CRC ends the journal (the write it belonged to was never
** acknowledged). Once every record written so far is applied, the file is
** emptied (ftruncate), so what was applied does not linger on disk.
**
** Loop thread only, except open and close.
*/
#ifndef EM_TRACK_JOURNAL_H
#define EM_TRACK_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#define EM_JOURNAL_SEGMENT_MAX (64u << 20)
#define EM_JOURNAL_RECORD_MAX (4u << 20)

typedef struct em_journal em_journal;

/* Called for each record after `applied`, in order; a non-zero return stops
** the replay and fails the open (the files stay as they are). */
typedef int (*em_journal_replay_fn)(uint64_t seq, const void *data, size_t len, void *arg);

/* Opens (creating) the journal in dir, replays what follows `applied`, then
** removes the replayed files and starts an empty one: the replay function
** must have made its records durable by the time it returns. Takes an
** exclusive lock on the directory (one server per data directory). */
int em_journal_open(em_journal **out, const char *dir, uint64_t applied, em_journal_replay_fn replay,
		    void *arg, char *err, size_t errlen);
/* Removes the files when every record written was applied; closes. */
void em_journal_close(em_journal *j);

/* Buffers a record; returns its number (> 0), or 0 when len exceeds
** EM_JOURNAL_RECORD_MAX or the buffer is full (64 MiB per loop turn).
** Nothing is on disk before em_journal_write. */
uint64_t em_journal_add(em_journal *j, const void *data, size_t len);
/* Writes the buffered records. On failure (EM_EIO; disk full, say) none of
** them counts: the file is cut back to where it was. */
int em_journal_write(em_journal *j);
/* Every record up to seq has been applied (committed, or failed for good). */
void em_journal_applied(em_journal *j, uint64_t seq);
/* Leaves no applied record on disk: empties the file if everything is
** applied, else starts a new one, so the old goes as soon as it is. */
void em_journal_cut(em_journal *j);
/* Records written and not yet applied. */
uint64_t em_journal_backlog(const em_journal *j);

#endif
