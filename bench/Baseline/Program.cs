// The yardsticks for bench/run.sh, doing nothing the Api does beyond the HTTP stack:
//   POST /api/track: reads the body, answers as the Api's /api/track does.
//   POST /api/batch: reads the body and parses every event (a JSON array, or NDJSON), answers as the Api's /api/batch.
// Whatever the Api costs beyond these is validation, the spool and batching.
using System.Buffers;
using System.Text.Json;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
var app = builder.Build();

app.MapPost("/api/track", async (HttpRequest request) =>
{
    using var body = new MemoryStream();
    await request.Body.CopyToAsync(body);
    return Results.Ok(new { success = true, batchSize = 0, flushed = (object?)null });
});

app.MapPost("/api/batch", async (HttpRequest request) =>
{
    var read = await request.BodyReader.ReadAtLeastAsync(int.MaxValue);
    var body = read.Buffer.IsSingleSegment ? read.Buffer.FirstSpan.ToArray() : read.Buffer.ToArray();
    request.BodyReader.AdvanceTo(read.Buffer.End);
    var events = 0;
    if (request.ContentType?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) == true)
    {
        using var document = JsonDocument.Parse(body);
        foreach (var element in document.RootElement.EnumerateArray())
        {
            events += element.ValueKind == JsonValueKind.Object ? 1 : 0;
        }
    }
    else
    {
        foreach (var line in ((ReadOnlyMemory<byte>)body).Split((byte)'\n'))
        {
            if (!line.IsEmpty)
            {
                using var document = JsonDocument.Parse(line);
                events += document.RootElement.ValueKind == JsonValueKind.Object ? 1 : 0;
            }
        }
    }
    return Results.Ok(new { success = true, accepted = events, batchSize = 0, flushed = Array.Empty<object>() });
});

app.Run();

internal static class Lines
{
    /// <summary>The pieces of <paramref name="content"/> between separators.</summary>
    public static IEnumerable<ReadOnlyMemory<byte>> Split(this ReadOnlyMemory<byte> content, byte separator)
    {
        while (content.Span.IndexOf(separator) is var at and >= 0)
        {
            yield return content[..at];
            content = content[(at + 1)..];
        }
        yield return content;
    }
}
