using System.Runtime.CompilerServices;
using System.Text.Json;
using TrackMulti.Api.Model;
using TrackMulti.Api.Sinks.Fme;

namespace TrackMulti.Api.Replay;

/// <summary>The rows of an object that a replay's window takes, by their <c>receivedAt</c>.</summary>
public static class ReplayRows
{
    /// <summary>
    /// The NDJSON lines of <paramref name="stream"/> received in <c>[from, to)</c>, in order. A line that is no row of
    /// its stream is passed on too: the sender counts it as unreadable, as the live sink does.
    /// </summary>
    public static async IAsyncEnumerable<byte[]> InWindow(
        string stream, Stream ndjson, DateTimeOffset from, DateTimeOffset to, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using (ndjson)
        {
            await foreach (var line in FmeSender.ReadLinesAsync(ndjson, cancellationToken))
            {
                if (ReceivedAt(stream, line) is not { } receivedAt || (receivedAt >= from && receivedAt < to))
                {
                    yield return line;
                }
            }
        }
    }

    private static DateTimeOffset? ReceivedAt(string stream, byte[] line)
    {
        try
        {
            return stream switch
            {
                Streams.Impressions => Impression.FromJsonLine(line).ReceivedAt,
                Streams.ImpressionCounts => ImpressionCount.FromJsonLine(line).ReceivedAt,
                _ => TrackEvent.FromJsonLine(line).ReceivedAt,
            };
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
