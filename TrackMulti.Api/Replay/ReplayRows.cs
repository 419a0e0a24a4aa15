using System.Text.Json;
using TrackMulti.Api.Model;
using TrackMulti.Api.Sinks.Fme;

namespace TrackMulti.Api.Replay;

/// <summary>The rows of an object that a replay's window takes, by their <c>receivedAt</c>.</summary>
public static class ReplayRows
{
    /// <summary>
    /// The NDJSON lines received in <c>[from, to)</c>, in order, read in full. A line without a <c>receivedAt</c> (no
    /// row the Api wrote) belongs to no window.
    /// </summary>
    public static async Task<List<byte[]>> InWindowAsync(Stream ndjson, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        var rows = new List<byte[]>();
        await using (ndjson)
        {
            await foreach (var line in FmeSender.ReadLinesAsync(ndjson, cancellationToken))
            {
                if (ReceivedAt(line) is { } receivedAt && receivedAt >= from && receivedAt < to)
                {
                    rows.Add(line);
                }
            }
        }
        return rows;
    }

    private static readonly IsoMillisecondsConverter Time = new();

    /// <summary>
    /// The row's top-level <c>receivedAt</c>, read as the model reads it, without reading the rest (the sender reads
    /// the rows it posts in full); null when the line is no JSON object with one.
    /// </summary>
    private static DateTimeOffset? ReceivedAt(byte[] line)
    {
        try
        {
            var reader = new Utf8JsonReader(line);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isReceivedAt = reader.ValueTextEquals("receivedAt"u8);
                reader.Read();
                if (isReceivedAt)
                {
                    return reader.TokenType == JsonTokenType.String ? Time.Read(ref reader, typeof(DateTimeOffset), JsonSerializerOptions.Default) : null;
                }
                reader.Skip();
            }
            return null;
        }
        catch (Exception ex) when (ex is JsonException or FormatException)
        {
            return null;
        }
    }
}
