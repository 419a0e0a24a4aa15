using System.Buffers;
using System.Globalization;
using TrackMulti.Api.Model;

namespace TrackMulti.Api.Spool;

/// <summary>
/// The spool's layout on disk (Spool/README.md has the whole of it). A segment's name carries its number (in
/// <c>open/</c>) or its sequence (in <c>sealed/</c>), its stream and its object key
/// (<c>000000000042-track.events%2Fbatch-….ndjson</c>):
/// <list type="bullet">
/// <item><c>open/</c>: segments taking appends;</item>
/// <item><c>sealed/</c>: complete segments; deleted once every sink that takes them has acknowledged them;</item>
/// <item><c>cursors/</c>: one small file per sink, where it stands in the log;</item>
/// <item><c>spare/</c>: files made ahead for the streams' next segments, which take them by a rename;</item>
/// <item><c>sequence</c>: numbers reserved so far (in blocks), so keys stay unique across restarts.</item>
/// </list>
/// Because the key is in the name, a segment delivered again after a crash or an ambiguous timeout overwrites the
/// same object instead of adding a duplicate.
/// </summary>
public sealed class SpoolDirectory : IDisposable
{
    /// <summary>A cursor's record: <c>sequence events</c>, padded to this length and ended by a newline.</summary>
    private const int CursorRecordLength = 32;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Microsoft.Win32.SafeHandles.SafeFileHandle> _cursorFiles = new(StringComparer.Ordinal);

    private const string SequenceFileName = "sequence";

    /// <summary>Sequences are reserved this many at a time, so the reservation is written once per this many segments.</summary>
    private const long SequenceBlock = 1000;

    private readonly Lock _reserving = new(); // the writer reserves for segments it opens, the sealer for their places in the log
    private long _reservedThrough = -1;

    public SpoolDirectory(string root)
    {
        Root = root;
        OpenDirectory = Path.Combine(root, "open");
        SealedDirectory = Path.Combine(root, "sealed");
        CursorDirectory = Path.Combine(root, "cursors");
        SpareDirectory = Path.Combine(root, "spare");
        HadCursors = Directory.Exists(CursorDirectory);
        Directory.CreateDirectory(OpenDirectory);
        Directory.CreateDirectory(SealedDirectory);
        Directory.CreateDirectory(CursorDirectory);
        Directory.CreateDirectory(SpareDirectory);
    }

    public string Root { get; }
    public string OpenDirectory { get; }
    public string SealedDirectory { get; }
    public string CursorDirectory { get; }

    /// <summary>Files made ahead for streams' next segments (<see cref="SpareFile"/>); emptied by recovery.</summary>
    public string SpareDirectory { get; }

    /// <summary>False for a new spool, or one written before sinks kept cursors: every sink then starts at its oldest segment.</summary>
    public bool HadCursors { get; }

    public static string FileName(long sequence, string stream, string key) =>
        string.Create(CultureInfo.InvariantCulture, $"{sequence:D12}-{stream}.{Uri.EscapeDataString(key)}");

    /// <summary>Reads a segment's name; one without a stream (written before streams existed) holds tracked events.</summary>
    public static bool TryParseFileName(string fileName, out long sequence, out string stream, out string key)
    {
        var dot = fileName.IndexOf('.');
        var head = fileName.AsSpan(0, Math.Max(dot, 0));
        var dash = head.IndexOf('-');
        stream = dash > 0 ? head[(dash + 1)..].ToString() : Streams.Track;
        key = dot > 0 ? Uri.UnescapeDataString(fileName[(dot + 1)..]) : "";
        return long.TryParse(dash > 0 ? head[..dash] : head, NumberStyles.None, CultureInfo.InvariantCulture, out sequence)
            && key.Length > 0 && stream.Length > 0;
    }

    public string OpenPath(SegmentId segment) => Path.Combine(OpenDirectory, FileName(segment.Number, segment.Stream, segment.Key));

    public string SealedPath(long sequence, string stream, string key) => Path.Combine(SealedDirectory, FileName(sequence, stream, key));

    public string SealedPath(SealedSegment segment) => SealedPath(segment.Sequence, segment.Stream, segment.Key);

    /// <summary>
    /// A file being rewritten in <c>open/</c> (a segment's complete lines, <see cref="SegmentLines"/>); recovery deletes
    /// it and starts again from the segment. Older versions encoded objects under this name, which recovery treats alike.
    /// </summary>
    internal const string RewriteSuffix = ".encoding";


    /// <summary>Moves a complete, synced open segment into <c>sealed/</c> at its place in the log.</summary>
    public void MoveToSealed(string openPath, long sequence, string stream, string key)
    {
        File.Move(openPath, SealedPath(sequence, stream, key));
        DirectorySync.Flush(SealedDirectory);
    }

    /// <summary>
    /// Makes sure <paramref name="sequence"/> is covered by the durable reservation before a segment uses it, so a
    /// restart never hands it out again. Writes a new reservation (atomically: temporary file, fsync, rename) only
    /// once per <see cref="SequenceBlock"/> sequences.
    /// </summary>
    public void ReserveSequence(long sequence)
    {
        if (sequence <= Volatile.Read(ref _reservedThrough))
        {
            return;
        }
        lock (_reserving)
        {
            if (sequence > _reservedThrough)
            {
                WriteReservation(sequence);
            }
        }
    }

    /// <summary>
    /// Renews the reservation while half a block is still left after <paramref name="current"/>, so the thread that
    /// next takes a number (a request opening a segment) rarely finds it used up and has to write it.
    /// </summary>
    public void ReserveAhead(long current) => ReserveSequence(current + SequenceBlock / 2);

    private void WriteReservation(long sequence)
    {
        var reserved = sequence + SequenceBlock - 1;
        var path = Path.Combine(Root, SequenceFileName);
        var temporary = path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 0))
        {
            file.Write(System.Text.Encoding.ASCII.GetBytes(reserved.ToString(CultureInfo.InvariantCulture)));
            file.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
        DirectorySync.Flush(Root);
        Volatile.Write(ref _reservedThrough, reserved);
    }

    /// <summary>
    /// Records where a sink stands: overwrites the sink's record in place, at the start of a file kept open (a new file
    /// per acknowledgement would cost the file system an inode each time). Not synced: a cursor that is behind only
    /// repeats deliveries. The record is one write within the file's first sector, so a power cut leaves the old one or
    /// the new one; one that cannot be read sends the sink back to the oldest segment kept, which also only repeats
    /// deliveries.
    /// </summary>
    public void WriteCursor(string sink, SpoolPosition position)
    {
        var file = _cursorFiles.GetOrAdd(sink, name =>
            File.OpenHandle(Path.Combine(CursorDirectory, name), FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete));
        Span<byte> record = stackalloc byte[CursorRecordLength];
        record.Fill((byte)' ');
        record[^1] = (byte)'\n';
        if (!System.Text.Unicode.Utf8.TryWrite(record, CultureInfo.InvariantCulture, $"{position.Sequence} {position.Events}", out _))
        {
            throw new InvalidOperationException($"The cursor {position} does not fit its record.");
        }
        RandomAccess.Write(file, record, fileOffset: 0);
    }

    public void DeleteCursor(string sink)
    {
        if (_cursorFiles.TryRemove(sink, out var file))
        {
            file.Dispose();
        }
        File.Delete(Path.Combine(CursorDirectory, sink));
    }

    public void Dispose()
    {
        foreach (var file in _cursorFiles.Values)
        {
            file.Dispose();
        }
        _cursorFiles.Clear();
    }

    /// <summary>
    /// Makes the spool consistent after any stop, clean or not: every open segment is cut down to its complete lines
    /// (<see cref="SegmentLines"/>: the rest was never acknowledged) and sealed under its key, after every segment sealed before
    /// (a later sequence); then every sealed segment is returned, oldest first, with every sink's cursor.
    /// </summary>
    public SpoolRecovery Recover(ILogger logger)
    {
        foreach (var spare in Directory.GetFiles(SpareDirectory))
        {
            File.Delete(spare);
        }
        var lastSequence = ReadLastSequence();
        var sealedKeys = new HashSet<(string Stream, string Key)>();
        foreach (var path in Directory.GetFiles(SealedDirectory))
        {
            if (TryParseFileName(Path.GetFileName(path), out var sequence, out var stream, out var key))
            {
                lastSequence = Math.Max(lastSequence, sequence);
                sealedKeys.Add((stream, key));
            }
        }
        var open = new List<(string Path, long Sequence, string Stream, string Key)>();
        foreach (var path in Directory.GetFiles(OpenDirectory))
        {
            if (path.EndsWith(RewriteSuffix, StringComparison.Ordinal))
            {
                File.Delete(path); // a rewrite cut short: its segment is still there and is sealed again below
                continue;
            }
            if (!TryParseFileName(Path.GetFileName(path), out var sequence, out var stream, out var key))
            {
                logger.LogWarning("Ignoring {File} in the spool's open folder: not a segment name", Path.GetFileName(path));
                continue;
            }
            lastSequence = Math.Max(lastSequence, sequence);
            open.Add((path, sequence, stream, key));
        }

        foreach (var (path, _, stream, key) in open.OrderBy(o => o.Sequence))
        {
            var name = Path.GetFileName(path);
            if (sealedKeys.Contains((stream, key)))
            {
                // A power cut right after a seal's rename can leave the file in both folders (open/ is not synced
                // after it, and without a journal the rename is not atomic). The sealed copy was finished and synced
                // before the rename, so it stands.
                File.Delete(path);
                continue;
            }
            var (events, _, dropped) = SegmentLines.KeepComplete(path);
            if (dropped > 0)
            {
                logger.LogWarning(
                    "Recovered segment {File}: dropped {Dropped} bytes that were no complete line (written but never acknowledged)",
                    name, dropped);
            }
            if (events == 0)
            {
                File.Delete(path);
                continue;
            }
            ReserveSequence(++lastSequence);
            MoveToSealed(path, lastSequence, stream, key);
        }
        DirectorySync.Flush(SealedDirectory);
        DirectorySync.Flush(OpenDirectory);

        var segments = new List<SealedSegment>();
        foreach (var path in Directory.GetFiles(SealedDirectory).Order(StringComparer.Ordinal))
        {
            if (!TryParseFileName(Path.GetFileName(path), out var sequence, out var stream, out var key))
            {
                logger.LogWarning("Ignoring {File} in the spool's sealed folder: not a segment name", path);
                continue;
            }
            DecodeIfEncoded(path, stream, key);
            var (events, bytes) = CountLines(path);
            segments.Add(new SealedSegment(sequence, key, stream, events, bytes, File.GetLastWriteTimeUtc(path)));
        }
        segments.Sort((a, b) => a.Sequence.CompareTo(b.Sequence));

        return new SpoolRecovery(segments, lastSequence, ReadCursors(logger));
    }

    private Dictionary<string, SpoolPosition> ReadCursors(ILogger logger)
    {
        var cursors = new Dictionary<string, SpoolPosition>(StringComparer.Ordinal);
        foreach (var path in Directory.GetFiles(CursorDirectory))
        {
            var sink = Path.GetFileName(path);
            if (sink.EndsWith(".tmp", StringComparison.Ordinal))
            {
                File.Delete(path); // a write that never got its rename; the cursor before it stands
                continue;
            }
            var parts = File.ReadAllText(path).Split(' ', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2
                && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var sequence)
                && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var events))
            {
                cursors[sink] = new SpoolPosition(sequence, events);
            }
            else
            {
                // Unreadable (a power cut): the sink starts again at the oldest segment kept, which only repeats deliveries.
                logger.LogWarning("The spool cursor of sink {Sink} cannot be read; it starts again at the oldest segment", sink);
                cursors[sink] = new SpoolPosition(0, 0);
            }
        }
        return cursors;
    }

    /// <summary>The highest sequence ever reserved (0 for a new spool). A reservation that cannot be read is an error.</summary>
    private long ReadLastSequence()
    {
        var path = Path.Combine(Root, SequenceFileName);
        if (!File.Exists(path))
        {
            return 0;
        }
        var text = File.ReadAllText(path);
        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var sequence)
            ? sequence
            : throw new InvalidDataException($"{path} should hold the last reserved sequence but holds '{text}'.");
    }

    /// <summary>
    /// Older versions sealed a gzip or Parquet key's segment as its object; the spool now holds NDJSON only (the S3 sink
    /// encodes at upload), so such a file is decoded back to its lines once (temporary file, sync, rename).
    /// </summary>
    private static void DecodeIfEncoded(string path, string stream, string key)
    {
        if (!ObjectLayout.IsEncoded(key))
        {
            return;
        }
        Span<byte> head = stackalloc byte[4];
        using (var file = File.OpenRead(path))
        {
            if (file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false) < 2 || !(head is [0x1f, 0x8b, ..] or [(byte)'P', (byte)'A', (byte)'R', (byte)'1']))
            {
                return;
            }
        }
        var decoded = path + RewriteSuffix;
        using (var source = ObjectLayout.OpenNdjson(key, stream, File.OpenRead(path)))
        using (var destination = new FileStream(decoded, FileMode.Create, FileAccess.Write, FileShare.None, 64 * 1024))
        {
            source.CopyTo(destination);
            destination.Flush(flushToDisk: true);
        }
        File.Move(decoded, path, overwrite: true);
    }

    private static (int Events, long Bytes) CountLines(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 0);
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            var events = 0;
            int read;
            while ((read = file.Read(buffer)) > 0)
            {
                events += buffer.AsSpan(0, read).Count((byte)'\n');
            }
            return (events, file.Length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

/// <param name="Segments">Sealed segments, oldest first.</param>
/// <param name="LastSequence">The highest sequence seen; new segments continue after it.</param>
/// <param name="Cursors">Where each sink stood, by sink name.</param>
public sealed record SpoolRecovery(IReadOnlyList<SealedSegment> Segments, long LastSequence, IReadOnlyDictionary<string, SpoolPosition> Cursors);
