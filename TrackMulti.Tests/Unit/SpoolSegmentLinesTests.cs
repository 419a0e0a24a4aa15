using System.Text;
using TrackMulti.Api.Spool;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.Unit;

/// <summary>
/// The rule that turns a segment's bytes into its lines after a failed copy or a crash: every complete line is kept
/// (it may have been answered), nothing else is, and no kept line holds a NUL.
/// </summary>
public sealed class SpoolSegmentLinesTests : IDisposable
{
    private readonly string _root = TestPaths.NewTemporaryDirectory("segment-lines");

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Theory]
    // A range reserved and never written (zeros), between two complete lines: both lines stay.
    [InlineData("{\"a\":1}\n\0\0\0\0{\"b\":2}\n", "{\"a\":1}\n{\"b\":2}\n")]
    // A copy cut short: its start, then zeros, then the next append's line.
    [InlineData("{\"a\":1}\n{\"x\":[1,\0\0\0{\"b\":2}\n", "{\"a\":1}\n{\"b\":2}\n")]
    // A line whose middle page was lost: it holds NULs, and what follows them is no object.
    [InlineData("{\"a\":1,\"y\0\0\0\":2}\n{\"b\":2}\n", "{\"b\":2}\n")]
    // Garbage that ends in a newline, then a complete line.
    [InlineData("{\"a\":1}\nnot json\n{\"b\":2}\n", "{\"a\":1}\n{\"b\":2}\n")]
    // The preallocated zeros after the last line, and a last line without its newline.
    [InlineData("{\"a\":1}\n{\"b\":2}\n\0\0\0\0\0\0", "{\"a\":1}\n{\"b\":2}\n")]
    [InlineData("{\"a\":1}\n{\"b\":", "{\"a\":1}\n")]
    [InlineData("\0\0\0\0", "")]
    public void A_segment_keeps_every_complete_line_in_order_and_nothing_else(string content, string lines)
    {
        var path = Path.Combine(_root, "segment");
        File.WriteAllBytes(path, Encoding.UTF8.GetBytes(content));

        var (events, bytes, _) = SegmentLines.KeepComplete(path);

        Assert.Equal(lines, Encoding.UTF8.GetString(File.ReadAllBytes(path)));
        Assert.Equal(lines.Count(c => c == '\n'), events);
        Assert.Equal(Encoding.UTF8.GetByteCount(lines), bytes);
        Assert.Equal([path], Directory.GetFiles(_root)); // no rewrite left behind
    }
}
