using System.Buffers;
using System.Globalization;
using System.Text.Json;
using TrackMulti.Api.Batching;

namespace TrackMulti.Api.Spool;

/// <summary>
/// The spool's layout on disk. A segment file is byte for byte the NDJSON object it will become, and its name carries
/// its sequence and final object key (<c>000000000042.events%2Fbatch-….ndjson</c>), decided when it is created:
/// <list type="bullet">
/// <item><c>open/</c>: the segment being written (one at a time);</item>
/// <item><c>sealed/</c>: segments that are complete and wait for S3; deleted once S3 confirmed them;</item>
/// <item><c>sequence</c>: sequences reserved so far (in blocks), so keys stay unique across restarts.</item>
/// </list>
/// Because the key is in the name, a segment uploaded again after a crash or an ambiguous timeout overwrites the
/// same object instead of adding a duplicate.
/// </summary>
public sealed class SpoolDirectory
{
    private const string SequenceFileName = "sequence";

    /// <summary>Sequences are reserved this many at a time, so the reservation is written once per this many segments.</summary>
    private const long SequenceBlock = 1000;

    private long _reservedThrough = -1;

    public SpoolDirectory(string root)
    {
        Root = root;
        OpenDirectory = Path.Combine(root, "open");
        SealedDirectory = Path.Combine(root, "sealed");
        Directory.CreateDirectory(OpenDirectory);
        Directory.CreateDirectory(SealedDirectory);
    }

    public string Root { get; }
    public string OpenDirectory { get; }
    public string SealedDirectory { get; }

    public static string FileName(long sequence, string key) =>
        string.Create(CultureInfo.InvariantCulture, $"{sequence:D12}.{Uri.EscapeDataString(key)}");

    public static bool TryParseFileName(string fileName, out long sequence, out string key)
    {
        var dot = fileName.IndexOf('.');
        key = dot > 0 ? Uri.UnescapeDataString(fileName[(dot + 1)..]) : "";
        return long.TryParse(fileName.AsSpan(0, Math.Max(dot, 0)), NumberStyles.None, CultureInfo.InvariantCulture, out sequence)
            && key.Length > 0;
    }

    public string OpenPath(long sequence, string key) => Path.Combine(OpenDirectory, FileName(sequence, key));

    public string SealedPath(long sequence, string key) => Path.Combine(SealedDirectory, FileName(sequence, key));

    /// <summary>
    /// Makes sure <paramref name="sequence"/> is covered by the durable reservation before a segment uses it, so a
    /// restart never hands it out again. Writes a new reservation (atomically: temporary file, fsync, rename) only
    /// once per <see cref="SequenceBlock"/> sequences.
    /// </summary>
    public void ReserveSequence(long sequence)
    {
        if (sequence <= _reservedThrough)
        {
            return;
        }

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
        _reservedThrough = reserved;
    }

    /// <summary>Deletes a segment S3 has confirmed. A segment that survives (crash first) is uploaded again, harmlessly.</summary>
    public void Remove(SealedBatch batch) => File.Delete(batch.Path);

    /// <summary>
    /// Makes the spool consistent after any stop, clean or not: every open segment is cut back to its last complete,
    /// well-formed line (the rest was never acknowledged) and sealed under the key in its name; then every sealed
    /// segment is returned, oldest first, for upload.
    /// </summary>
    public SpoolRecovery Recover(ILogger logger)
    {
        var lastSequence = ReadLastSequence();

        foreach (var path in Directory.GetFiles(OpenDirectory).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(path);
            if (!TryParseFileName(name, out var sequence, out _))
            {
                logger.LogWarning("Ignoring {File} in the spool's open folder: not a segment name", name);
                continue;
            }
            lastSequence = Math.Max(lastSequence, sequence);

            var (validLength, tornLength) = TruncateToValidLines(path);
            if (tornLength > 0)
            {
                logger.LogWarning(
                    "Recovered segment {File}: cut {Dropped} bytes after the last complete record (written but never acknowledged)",
                    name, tornLength);
            }
            if (validLength == 0)
            {
                File.Delete(path);
                continue;
            }
            // A power cut right after a seal's rename can leave the name in both folders (open/ is not synced after
            // it, and without a journal the rename is not atomic). A sequence is written once, so both are this
            // segment, and the copy just checked stands.
            File.Move(path, Path.Combine(SealedDirectory, name), overwrite: true);
        }
        DirectorySync.Flush(SealedDirectory);
        DirectorySync.Flush(OpenDirectory);

        var sealedBatches = new List<SealedBatch>();
        foreach (var path in Directory.GetFiles(SealedDirectory).Order(StringComparer.Ordinal))
        {
            if (!TryParseFileName(Path.GetFileName(path), out var sequence, out var key))
            {
                logger.LogWarning("Ignoring {File} in the spool's sealed folder: not a segment name", path);
                continue;
            }
            lastSequence = Math.Max(lastSequence, sequence);
            var (events, bytes) = CountLines(path);
            sealedBatches.Add(new SealedBatch(key, sequence, events, bytes, path));
        }

        if (sealedBatches.Count > 0)
        {
            logger.LogInformation("Spool recovery: {Batches} batches ({Events} events) wait for upload",
                sealedBatches.Count, sealedBatches.Sum(b => b.EventCount));
        }
        return new SpoolRecovery(sealedBatches, lastSequence);
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
    /// Cuts the file after its last line that ends in '\n' and parses as a JSON object, and syncs it. Returns the length
    /// kept and how much of the cut part was data (a torn record) rather than the writer's zero-filled room.
    /// </summary>
    private static (long Valid, long Torn) TruncateToValidLines(string path)
    {
        var content = File.ReadAllBytes(path);
        long valid = 0;
        var rest = content.AsSpan();
        while (rest.IndexOf((byte)'\n') is var end and >= 0)
        {
            if (!IsJsonObject(rest[..end]))
            {
                break;
            }
            valid += end + 1;
            rest = rest[(end + 1)..];
        }

        if (valid < content.Length)
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.None, 0);
            file.SetLength(valid);
            file.Flush(flushToDisk: true);
        }
        return (valid, content.AsSpan((int)valid).LastIndexOfAnyExcept((byte)0) + 1);
    }

    private static bool IsJsonObject(ReadOnlySpan<byte> line)
    {
        try
        {
            var reader = new Utf8JsonReader(line);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }
            reader.Skip();
            return !reader.Read(); // nothing after the object
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static (int Events, long Bytes) CountLines(string path)
    {
        using var file = File.OpenRead(path);
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

/// <param name="SealedBatches">Segments waiting for upload, oldest first.</param>
/// <param name="LastSequence">The highest sequence seen; new segments continue after it.</param>
public sealed record SpoolRecovery(IReadOnlyList<SealedBatch> SealedBatches, long LastSequence);
