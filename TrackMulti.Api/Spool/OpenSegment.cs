using Microsoft.Win32.SafeHandles;

namespace TrackMulti.Api.Spool;

/// <summary>
/// The segment file being written: chunks are appended with <see cref="Write"/> and made durable with
/// <see cref="Sync"/>. A failed write is rolled back to the last good length, so the file only ever holds whole
/// chunks that were written successfully.
/// </summary>
/// <remarks>
/// The file is kept ahead of the data by zero-filled room (first as much as the previous segment held, at most
/// 64 KiB, then growing with the segment, at most 256 KiB at a time). Once the room has been flushed, writes land inside
/// the file's size and allocated blocks, so the sync after them is an fdatasync that flushes data only; an append
/// that grows the file makes every sync write the file's size and block map too, which costs more per sync
/// (docs/performance.md, bench/flush_cost.py). The flush right after the room grows pays for the zeros, so the step is kept small.
/// The room is cut off by the sync that seals the segment; after a crash, recovery cuts it (zeros are never a
/// complete JSON line).
/// </remarks>
internal sealed class OpenSegment : IDisposable
{
    /// <summary>The first room of a segment when there is no earlier one to size it by.</summary>
    public const long DefaultRoom = 64 * 1024;
    private const long MinRoomStep = 16 * 1024;
    private const long MaxRoomStep = 256 * 1024;
    private const long Page = 4096;
    private static readonly byte[] Zeros = new byte[64 * 1024];

    private readonly FileStream _stream;
    private readonly SafeFileHandle _file;
    private readonly long _firstRoom;
    private long _length; // the file's size: data plus room, never less than Bytes

    private OpenSegment(FileStream stream, SegmentId id, long firstRoom)
    {
        _firstRoom = firstRoom;
        _stream = stream;
        _file = stream.SafeFileHandle;
        Path = stream.Name;
        Id = id;
    }

    public SegmentId Id { get; }
    public string Path { get; }

    /// <summary>A failed write could not be rolled back: write nothing more; recovery repairs the file on the next start.</summary>
    public bool IsBroken { get; private set; }

    public int Events { get; private set; }
    public long Bytes { get; private set; }

    /// <param name="expectedBytes">How large the segment will likely grow (the previous one's size): its first room,
    /// rounded up to whole pages and at most <see cref="DefaultRoom"/>.</param>
    /// <param name="syncFolder">Make the file's name durable now; false when the caller syncs the folder later, before
    /// anything written to the file is promised to survive a power cut.</param>
    public static OpenSegment Create(SpoolDirectory spool, SegmentId id, long expectedBytes, bool syncFolder = true)
    {
        spool.ReserveSequence(id.Sequence);
        // Unbuffered, written at explicit offsets: every write is one pwrite(2), nothing sits in a hidden buffer.
        var file = new FileStream(spool.OpenPath(id), FileMode.CreateNew, FileAccess.Write, FileShare.Read, bufferSize: 0);
        try
        {
            if (syncFolder)
            {
                DirectorySync.Flush(spool.OpenDirectory);
            }
        }
        catch
        {
            file.Dispose();
            throw;
        }
        var firstRoom = Math.Clamp((expectedBytes + Page - 1) / Page * Page, Page, DefaultRoom);
        return new OpenSegment(file, id, firstRoom);
    }

    /// <summary>Appends whole lines. On failure the file is cut back to where it was, and the exception is rethrown.</summary>
    public void Write(ReadOnlySpan<byte> lines, int events)
    {
        if (IsBroken)
        {
            throw new IOException($"Segment {Id.Key} is unusable after a failed write.");
        }

        try
        {
            EnsureRoom(Bytes + lines.Length);
            RandomAccess.Write(_file, lines, Bytes);
        }
        catch
        {
            RollBack();
            throw;
        }
        Bytes += lines.Length;
        _length = Math.Max(_length, Bytes); // without room (a full disk), the data itself grew the file
        Events += events;
    }

    /// <summary>Everything written so far survives a crash or a power cut.</summary>
    public void Sync()
    {
        if (!FileSync.TryDataToDisk(_file, Path))
        {
            _stream.Flush(flushToDisk: true);
        }
    }

    /// <summary>
    /// Cuts the room and syncs data and size: everything written is durable and the file is byte for byte the object.
    /// On failure the segment must not be sealed; dispose it and leave it to recovery.
    /// </summary>
    public void Finish()
    {
        if (_length != Bytes)
        {
            RandomAccess.SetLength(_file, Bytes);
            _length = Bytes;
        }
        _stream.Flush(flushToDisk: true);
    }

    /// <summary>
    /// Closes the finished segment and puts it in <c>sealed/</c> at its place in the log, under its key, as the object
    /// it becomes (compressed when the key says so). Returns the sealed file's size.
    /// </summary>
    public long MoveToSealed(SpoolDirectory spool, long sequence)
    {
        _stream.Dispose();
        spool.ReserveSequence(sequence); // a restart must never hand out a place before it again
        return spool.Seal(Path, sequence, Id.Stream, Id.Key);
    }

    /// <summary>Removes a segment that ended up with no event (every write into it failed).</summary>
    public void Delete()
    {
        _stream.Dispose();
        File.Delete(Path);
    }

    public void Dispose() => _stream.Dispose();

    /// <summary>Grows the zero-filled room so <paramref name="needed"/> bytes fit. On a disk too full for the room,
    /// the data is appended without it: an event that fits on the disk is never refused for want of room.</summary>
    private void EnsureRoom(long needed)
    {
        if (needed <= _length)
        {
            return;
        }
        var step = _length == 0 ? _firstRoom : Math.Clamp(_length, MinRoomStep, MaxRoomStep);
        var target = Math.Max(needed, _length + step);
        try
        {
            for (var offset = _length; offset < target; offset += Zeros.Length)
            {
                RandomAccess.Write(_file, Zeros.AsSpan(0, (int)Math.Min(Zeros.Length, target - offset)), offset);
            }
            _length = target;
        }
        catch (IOException)
        {
            RandomAccess.SetLength(_file, _length);
        }
    }

    private void RollBack()
    {
        try
        {
            RandomAccess.SetLength(_file, Bytes);
            _length = Bytes;
        }
        catch (Exception)
        {
            IsBroken = true;
        }
    }
}
