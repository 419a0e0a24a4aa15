using TrackMulti.Api.Batching;

namespace TrackMulti.Api.Spool;

/// <summary>
/// The segment file being written: chunks are appended with <see cref="Write"/> and made durable with
/// <see cref="Sync"/>. A failed write is rolled back to the last good length, so the file only ever holds whole
/// chunks that were written successfully.
/// </summary>
internal sealed class OpenSegment : IDisposable
{
    private readonly FileStream _file;

    private OpenSegment(FileStream file, long sequence, string key)
    {
        _file = file;
        Sequence = sequence;
        Key = key;
    }

    public long Sequence { get; }
    public string Key { get; }
    public string Path => _file.Name;

    /// <summary>A failed write could not be rolled back: write nothing more; recovery repairs the file on the next start.</summary>
    public bool IsBroken { get; private set; }

    public int Events { get; private set; }
    public long Bytes { get; private set; }

    public static OpenSegment Create(SpoolDirectory spool, long sequence, string key)
    {
        spool.ReserveSequence(sequence);
        // Unbuffered: every Write is one write(2), and nothing sits in a hidden buffer after a failure.
        var file = new FileStream(spool.OpenPath(sequence, key), FileMode.CreateNew, FileAccess.Write, FileShare.Read, bufferSize: 0);
        try
        {
            DirectorySync.Flush(spool.OpenDirectory);
        }
        catch
        {
            file.Dispose();
            throw;
        }
        return new OpenSegment(file, sequence, key);
    }

    /// <summary>Appends whole lines. On failure the file is cut back to where it was, and the exception is rethrown.</summary>
    public void Write(ReadOnlySpan<byte> lines, int events)
    {
        if (IsBroken)
        {
            throw new IOException($"Segment {Key} is unusable after a failed write.");
        }

        try
        {
            _file.Write(lines);
        }
        catch
        {
            RollBack();
            throw;
        }
        Bytes += lines.Length;
        Events += events;
    }

    /// <summary>fsync: everything written so far survives a crash or a power cut.</summary>
    public void Sync() => _file.Flush(flushToDisk: true);

    /// <summary>Closes the synced segment and moves it to <c>sealed/</c> under the same name (the key is kept).</summary>
    public SealedBatch Seal(SpoolDirectory spool)
    {
        _file.Dispose();
        var sealedPath = spool.SealedPath(Sequence, Key);
        File.Move(Path, sealedPath);
        DirectorySync.Flush(spool.SealedDirectory);
        return new SealedBatch(Key, Sequence, Events, Bytes, sealedPath);
    }

    /// <summary>Removes a segment that ended up with no event (every write into it failed).</summary>
    public void Delete()
    {
        _file.Dispose();
        File.Delete(Path);
    }

    public void Dispose() => _file.Dispose();

    private void RollBack()
    {
        try
        {
            _file.SetLength(Bytes);
            _file.Position = Bytes;
        }
        catch (Exception)
        {
            IsBroken = true;
        }
    }
}
