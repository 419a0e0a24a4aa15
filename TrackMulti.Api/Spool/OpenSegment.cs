using System.Buffers;
using TrackMulti.Api.Batching;

namespace TrackMulti.Api.Spool;

/// <summary>
/// The segment being written. Lines are gathered in memory and written with one fsync per group of requests
/// (<see cref="Commit"/>); only then are those requests acknowledged. A failed write is rolled back to the last
/// committed length, so the file never holds a record that was not acknowledged and then kept.
/// </summary>
internal sealed class OpenSegment : IDisposable
{
    private static readonly byte[] NewLine = "\n"u8.ToArray();

    private readonly FileStream _file;
    private readonly ArrayBufferWriter<byte> _pending = new(64 * 1024);
    private int _pendingEvents;

    private OpenSegment(FileStream file, long sequence, string key, DateTimeOffset openedAt)
    {
        _file = file;
        Sequence = sequence;
        Key = key;
        OpenedAt = openedAt;
    }

    public long Sequence { get; }
    public string Key { get; }
    public DateTimeOffset OpenedAt { get; }
    public string Path => _file.Name;

    /// <summary>A failed write could not be rolled back: append nothing more; recovery repairs the file on the next start.</summary>
    public bool IsBroken { get; private set; }

    public int CommittedEvents { get; private set; }
    public long CommittedBytes { get; private set; }

    /// <summary>Events and bytes including those appended since the last commit.</summary>
    public int Events => CommittedEvents + _pendingEvents;
    public long Bytes => CommittedBytes + _pending.WrittenCount;

    public static OpenSegment Create(SpoolDirectory spool, long sequence, string key, DateTimeOffset now)
    {
        spool.WriteLastSequence(sequence);
        // Unbuffered: every Commit is one write and one fsync, and nothing sits in a hidden buffer after a failure.
        var file = new FileStream(spool.OpenPath(sequence, key), FileMode.CreateNew, FileAccess.Write, FileShare.Read, bufferSize: 0);
        DirectorySync.Flush(spool.OpenDirectory);
        return new OpenSegment(file, sequence, key, now);
    }

    public void Append(ReadOnlySpan<byte> line)
    {
        _pending.Write(line);
        _pending.Write(NewLine);
        _pendingEvents++;
    }

    /// <summary>Writes and fsyncs what was appended since the last commit. On failure, rolls the file back and rethrows.</summary>
    public void Commit()
    {
        if (_pending.WrittenCount == 0)
        {
            return;
        }

        try
        {
            _file.Write(_pending.WrittenSpan);
            _file.Flush(flushToDisk: true);
        }
        catch
        {
            Discard();
            throw;
        }

        CommittedBytes += _pending.WrittenCount;
        CommittedEvents += _pendingEvents;
        _pending.Clear();
        _pendingEvents = 0;
    }

    /// <summary>Closes the committed segment and moves it to <c>sealed/</c> under the same name (the key is kept).</summary>
    public SealedBatch Seal(SpoolDirectory spool)
    {
        if (_pending.WrittenCount != 0)
        {
            throw new InvalidOperationException("Commit before sealing.");
        }

        _file.Dispose();
        var sealedPath = spool.SealedPath(Sequence, Key);
        File.Move(Path, sealedPath);
        DirectorySync.Flush(spool.SealedDirectory);
        return new SealedBatch(Key, Sequence, CommittedEvents, CommittedBytes, sealedPath);
    }

    public void Dispose() => _file.Dispose();

    private void Discard()
    {
        _pending.Clear();
        _pendingEvents = 0;
        try
        {
            _file.SetLength(CommittedBytes);
            _file.Position = CommittedBytes;
        }
        catch (IOException)
        {
            IsBroken = true;
        }
    }
}
