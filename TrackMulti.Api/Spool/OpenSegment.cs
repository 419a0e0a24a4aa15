using System.Buffers;
using System.Diagnostics;
using Microsoft.Win32.SafeHandles;

namespace TrackMulti.Api.Spool;

/// <summary>
/// The segment file being written. Producers append on their own threads: <see cref="Reserve"/> takes a range of the
/// file (and a count of events) with one atomic operation, <see cref="Write"/> copies the lines into it with one
/// <c>pwrite</c>. Nothing is shared between two appends but the reservation word, so appends to one segment run side by
/// side. Once <see cref="Close">closed</see> the segment takes no more reservations; <see cref="SegmentSealer"/> waits
/// for the copies under way (<see cref="WaitForCopies"/>) and seals it.
/// </summary>
/// <remarks>
/// The file starts with a zero-filled preallocation (as long as the previous segment of its stream, at most
/// <see cref="MaxPreallocation"/>): writes inside it change neither the file's size nor its block map, so a sync of
/// them is an fdatasync of data alone. Lines past it grow the file. A seal cuts what is left; after a crash recovery does.
/// The file is made ahead of need on the sealer's thread (<see cref="SpareFile"/>): creating a file costs ext4 an inode
/// search that no request should wait for; taking one is a rename.
/// A copy that failed, or that a crash interrupted, leaves its range zero-filled or partly written: never a complete
/// line, so the seal and recovery drop it (<see cref="SegmentLines"/>).
/// </remarks>
public sealed class OpenSegment : IDisposable
{
    /// <summary>The preallocation of a segment when there is no earlier one of its stream to size it by.</summary>
    public const long DefaultPreallocation = 64 * 1024;

    /// <summary>The most a segment gets preallocated: each zero reaches the disk once before a line overwrites it.</summary>
    public const long MaxPreallocation = 1024 * 1024;

    // The reservation word: bit 63 closed, bits 40-62 events, bits 0-39 bytes. One word, so one compare-and-swap
    // takes bytes and events together and no append can slip in after a close.
    private const int EventsShift = 40;
    private const long BytesMask = (1L << EventsShift) - 1;
    private const long ClosedBit = long.MinValue;
    private const long MaxBytesLimit = BytesMask;
    private const int MaxEventsLimit = (1 << (63 - EventsShift)) - 1;

    private readonly FileStream _stream;
    private readonly SafeFileHandle _file;
    private readonly int _maxEvents;
    private readonly long _maxBytes;
    private long _state;
    private long _copied; // bytes whose copy has ended, written or failed
    private int _failedCopies;
    private int _unsynced; // set by a write, cleared by the syncer before it syncs (SpoolSyncer)
    private int _origins;
    private readonly ActivityContext[] _originSlots = new ActivityContext[SealedSegment.MaxOrigins];

    private OpenSegment(FileStream stream, string path, SegmentId id, SegmentLimits limits)
    {
        _stream = stream;
        _file = stream.SafeFileHandle;
        Path = path;
        Id = id;
        _maxEvents = Math.Min(limits.MaxEvents, MaxEventsLimit);
        _maxBytes = Math.Min(limits.MaxBytes, MaxBytesLimit);
    }

    public SegmentId Id { get; }
    public string Path { get; }

    /// <summary>Events reserved so far (written or being written).</summary>
    public int Events => (int)((Volatile.Read(ref _state) & ~ClosedBit) >> EventsShift);

    /// <summary>Bytes reserved so far: the segment's length once sealed, before any failed copy is dropped.</summary>
    public long Bytes => Volatile.Read(ref _state) & BytesMask;

    public bool IsClosed => Volatile.Read(ref _state) < 0;

    /// <summary>A copy into this segment failed: its range holds no complete line, and the seal must drop it.</summary>
    public bool HasFailedCopies => Volatile.Read(ref _failedCopies) > 0;

    /// <summary>
    /// Makes <paramref name="spare"/> (or, without one, a new file) the segment <paramref name="id"/>: renames it to the
    /// segment's name. That name is made durable by the syncer's next pass, before any line in it is promised to.
    /// </summary>
    internal static OpenSegment Open(SpoolDirectory spool, SegmentId id, SegmentLimits limits, SpareFile? spare, long expectedBytes)
    {
        spool.ReserveSequence(id.Number);
        spare ??= SpareFile.Create(spool, id.Stream, expectedBytes);
        var path = spool.OpenPath(id);
        try
        {
            File.Move(spare.Path, path);
        }
        catch
        {
            spare.Delete();
            throw;
        }
        return new OpenSegment(spare.Stream, path, id, limits);
    }

    /// <summary>
    /// Reserves a range for <paramref name="events"/> lines of <paramref name="bytes"/> bytes (newlines included), or says why
    /// not: the segment is closed, or it holds events already and these would take it past its limits (a request
    /// larger than the limits alone gets a segment to itself). A reservation that reaches the event limit closes the
    /// segment in the same step: its caller seals it.
    /// </summary>
    public Reservation Reserve(int events, long bytes)
    {
        var state = Volatile.Read(ref _state);
        while (true)
        {
            if (state < 0)
            {
                return new Reservation(ReserveOutcome.Closed, 0, 0);
            }
            var heldEvents = (int)(state >> EventsShift);
            var heldBytes = state & BytesMask;
            if (heldEvents > 0 && (heldEvents + events > _maxEvents || heldBytes + bytes > _maxBytes))
            {
                return new Reservation(ReserveOutcome.DoesNotFit, 0, 0);
            }
            var full = heldEvents + events >= _maxEvents;
            var next = ((long)Math.Min(heldEvents + events, MaxEventsLimit) << EventsShift) | (heldBytes + bytes) | (full ? ClosedBit : 0);
            var seen = Interlocked.CompareExchange(ref _state, next, state);
            if (seen == state)
            {
                return new Reservation(full ? ReserveOutcome.TakenAndFull : ReserveOutcome.Taken, heldBytes, heldEvents + events);
            }
            state = seen;
        }
    }

    /// <summary>Stops reservations; true for the one caller that closed it (and so seals it).</summary>
    public bool Close()
    {
        var state = Volatile.Read(ref _state);
        while (state >= 0)
        {
            var seen = Interlocked.CompareExchange(ref _state, state | ClosedBit, state);
            if (seen == state)
            {
                return true;
            }
            state = seen;
        }
        return false;
    }

    /// <summary>
    /// Copies whole lines (no newlines; one is added after each) into the range <paramref name="reservation"/> took,
    /// with one write. On failure the range is left as it is (the seal drops it) and the exception is rethrown.
    /// </summary>
    public void Write(IReadOnlyList<byte[]> lines, Reservation reservation, long bytes)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(checked((int)bytes));
        try
        {
            var at = 0;
            foreach (var line in lines)
            {
                line.CopyTo(buffer, at);
                at += line.Length;
                buffer[at++] = (byte)'\n';
            }
            RandomAccess.Write(_file, buffer.AsSpan(0, at), reservation.Offset);
        }
        catch
        {
            Interlocked.Increment(ref _failedCopies);
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            Interlocked.Add(ref _copied, bytes);
        }
    }

    /// <summary>Keeps the trace context of one of the first requests into the segment, for the delivery spans' links.</summary>
    public void AddOrigin(ActivityContext origin)
    {
        if (origin == default || Volatile.Read(ref _origins) >= _originSlots.Length)
        {
            return;
        }
        var slot = Interlocked.Increment(ref _origins) - 1;
        if (slot < _originSlots.Length)
        {
            _originSlots[slot] = origin;
        }
    }

    /// <summary>The trace contexts kept; read once the copies are done.</summary>
    internal IReadOnlyList<ActivityContext> Origins =>
        [.. _originSlots.Take(Volatile.Read(ref _origins)).Where(o => o != default)];

    /// <summary>Marks the segment written since the syncer's last pass; true when it was not marked yet.</summary>
    internal bool MarkUnsynced() => Interlocked.Exchange(ref _unsynced, 1) == 0;

    internal void ClearUnsynced() => Interlocked.Exchange(ref _unsynced, 0);

    /// <summary>Once closed: waits until every reserved range has been copied (or its copy has failed).</summary>
    internal void WaitForCopies()
    {
        Debug.Assert(IsClosed);
        var spin = new SpinWait();
        while (Volatile.Read(ref _copied) < Bytes)
        {
            spin.SpinOnce(sleep1Threshold: 30);
        }
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
    /// Once the copies are done: cuts what is left of the preallocation and syncs data and size, so the file holds exactly the reserved lines.
    /// On failure the segment must not be sealed; dispose it and leave it to recovery.
    /// </summary>
    internal void Finish()
    {
        RandomAccess.SetLength(_file, Bytes);
        _stream.Flush(flushToDisk: true);
    }

    public void Dispose() => _stream.Dispose();
}

/// <summary>
/// A file made ahead of need for a stream's next segment, in <c>spare/</c> (which recovery empties), with its
/// preallocation written.
/// </summary>
internal sealed class SpareFile
{
    private const long Page = 4096;
    private static readonly byte[] Zeros = new byte[OpenSegment.MaxPreallocation];
    private static long _made;

    private SpareFile(FileStream stream) => Stream = stream;

    public FileStream Stream { get; }

    public string Path => Stream.Name;

    /// <param name="expectedBytes">How large the segment will likely grow (the previous one's size): its preallocation,
    /// rounded up to whole pages and at most <see cref="OpenSegment.MaxPreallocation"/>.</param>
    public static SpareFile Create(SpoolDirectory spool, string stream, long expectedBytes)
    {
        var path = System.IO.Path.Combine(spool.SpareDirectory, $"{stream}-{Environment.ProcessId}-{Interlocked.Increment(ref _made)}");
        // Unbuffered, written at explicit offsets: every write is one pwrite(2), nothing sits in a hidden buffer.
        var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read, bufferSize: 0);
        var length = Math.Clamp((expectedBytes + Page - 1) / Page * Page, Page, OpenSegment.MaxPreallocation);
        try
        {
            RandomAccess.Write(file.SafeFileHandle, Zeros.AsSpan(0, (int)length), 0);
        }
        catch (IOException)
        {
            // A disk too full for it: the lines grow the file instead, and an event that fits is still taken.
            RandomAccess.SetLength(file.SafeFileHandle, 0);
        }
        return new SpareFile(file);
    }

    public void Delete()
    {
        Stream.Dispose();
        File.Delete(Path);
    }
}

/// <summary>When a segment takes no more: the batcher's count and size limits.</summary>
public readonly record struct SegmentLimits(int MaxEvents, long MaxBytes);

public enum ReserveOutcome
{
    /// <summary>The range is the caller's to write.</summary>
    Taken,

    /// <summary>The range is the caller's, and it filled the segment, which is now closed: the caller seals it.</summary>
    TakenAndFull,

    /// <summary>The lines would take the segment past its limits: close it, seal it, and reserve in the next one.</summary>
    DoesNotFit,

    /// <summary>Closed by someone else: reserve in the next segment.</summary>
    Closed,
}

/// <param name="Offset">Where the caller's range starts in the file.</param>
/// <param name="EventsAfter">The segment's events with the caller's.</param>
public readonly record struct Reservation(ReserveOutcome Outcome, long Offset, int EventsAfter)
{
    public bool IsTaken => Outcome is ReserveOutcome.Taken or ReserveOutcome.TakenAndFull;
}
