using System.Text.Json;

namespace TrackMulti.Api.Spool;

/// <summary>
/// Which bytes of a segment are its lines, after a failed copy or a crash. Appends copy into ranges reserved side by
/// side, so a range whose copy failed or was cut short sits between complete lines, zero-filled (the preallocation, or a hole)
/// or partly written and then zero-filled. Every complete line may have been acknowledged, so each is kept; the rest
/// never was, and is dropped.
/// </summary>
/// <remarks>
/// The rule, per newline-ended piece: what follows its last NUL byte is kept when it is one whole JSON object, and
/// nothing else of it. So zeros before a line (a range never written, then the next append's line) leave the line;
/// a line cut short by zeros, or one that holds a NUL, is dropped; the bytes after the last newline are never a line.
/// </remarks>
internal static class SegmentLines
{
    /// <summary>The complete lines of <paramref name="content"/>, each with its newline, in order.</summary>
    public static List<Range> Complete(ReadOnlySpan<byte> content)
    {
        var kept = new List<Range>();
        var start = 0;
        while (content[start..].IndexOf((byte)'\n') is var length and >= 0)
        {
            var piece = content.Slice(start, length);
            var afterNul = piece.LastIndexOf((byte)0) + 1;
            if (IsJsonObject(piece[afterNul..]))
            {
                kept.Add(new Range(start + afterNul, start + length + 1));
            }
            start += length + 1;
        }
        return kept;
    }

    /// <summary>
    /// Rewrites the file (synced, then renamed over it) so it holds only its complete lines; cuts it in place (and
    /// syncs it) when they are all at its start. Returns how many lines it kept, its new length and how many bytes of data (not
    /// zeros) were dropped.
    /// </summary>
    public static (int Events, long Bytes, long DroppedData) KeepComplete(string path)
    {
        var content = File.ReadAllBytes(path);
        var kept = Complete(content);
        var keptBytes = kept.Sum(r => (long)(r.End.Value - r.Start.Value));
        var droppedData = content.Length - content.AsSpan().Count((byte)0) - keptBytes; // a kept line holds no NUL
        var prefix = kept.Count == 0 || (kept[0].Start.Value == 0 && IsContiguous(kept));
        if (prefix)
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.None, 0);
            file.SetLength(keptBytes);
            file.Flush(flushToDisk: true);
        }
        else
        {
            var repaired = path + SpoolDirectory.RewriteSuffix;
            using (var file = new FileStream(repaired, FileMode.Create, FileAccess.Write, FileShare.None, 0))
            {
                foreach (var range in kept)
                {
                    file.Write(content.AsSpan(range));
                }
                file.Flush(flushToDisk: true);
            }
            File.Move(repaired, path, overwrite: true);
        }
        return (kept.Count, keptBytes, droppedData);
    }

    private static bool IsContiguous(List<Range> ranges)
    {
        for (var i = 1; i < ranges.Count; i++)
        {
            if (ranges[i].Start.Value != ranges[i - 1].End.Value)
            {
                return false;
            }
        }
        return true;
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
}
