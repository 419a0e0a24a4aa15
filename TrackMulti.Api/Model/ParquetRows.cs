using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Parquet.Serialization;

namespace TrackMulti.Api.Model;

/// <summary>
/// A batch as Parquet (<c>S3_FORMAT=parquet</c>): one row group, typed columns for the model's fields, and
/// <c>properties</c> and any other fields as JSON text. Written from the batch's NDJSON when it is sealed, and read back
/// as NDJSON for the sinks that forward rows.
/// </summary>
public static class ParquetRows
{
    public static void Encode(string stream, Stream ndjson, Stream destination)
    {
        var lines = Lines(ndjson);
        Task written = stream switch
        {
            Streams.Impressions => ParquetSerializer.SerializeAsync(lines.Select(l => ImpressionRow.From(Impression.FromJsonLine(l))), destination),
            Streams.ImpressionCounts => ParquetSerializer.SerializeAsync(lines.Select(l => ImpressionCountRow.From(ImpressionCount.FromJsonLine(l))), destination),
            _ => ParquetSerializer.SerializeAsync(lines.Select(l => EventRow.From(TrackEvent.FromJsonLine(l))), destination),
        };
        // On the spool's own thread (or at start): nothing waits on a synchronization context.
        written.GetAwaiter().GetResult();
    }

    public static Stream Decode(string stream, Stream content)
    {
        var output = new MemoryStream();
        IEnumerable<byte[]> lines = stream switch
        {
            Streams.Impressions => Read<ImpressionRow>(content).Select(r => r.ToModel().ToJsonLine()),
            Streams.ImpressionCounts => Read<ImpressionCountRow>(content).Select(r => r.ToModel().ToJsonLine()),
            _ => Read<EventRow>(content).Select(r => r.ToModel().ToJsonLine()),
        };
        foreach (var line in lines)
        {
            output.Write(line);
            output.WriteByte((byte)'\n');
        }
        content.Dispose();
        output.Position = 0;
        return output;
    }

    /// <summary>The columns of each stream's Parquet rows, in order, with their .NET types (the Athena tables use them).</summary>
    public static IReadOnlyList<(string Name, Type Type)> ColumnsOf(string stream) =>
        [.. (stream switch { Streams.Impressions => typeof(ImpressionRow), Streams.ImpressionCounts => typeof(ImpressionCountRow), _ => typeof(EventRow) })
            .GetProperties()
            .Select(p => (p.GetCustomAttributes(typeof(JsonPropertyNameAttribute), false).Cast<JsonPropertyNameAttribute>().Single().Name,
                Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType))];

    private static IList<T> Read<T>(Stream content) where T : class, new() =>
        ParquetSerializer.DeserializeAsync<T>(content).GetAwaiter().GetResult().Data;

    private static List<byte[]> Lines(Stream ndjson)
    {
        using var buffer = new MemoryStream();
        ndjson.CopyTo(buffer);
        var text = buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        var lines = new List<byte[]>();
        for (var rest = text; rest.Length > 0;)
        {
            var end = rest.Span.IndexOf((byte)'\n');
            lines.Add(rest[..(end < 0 ? rest.Length : end)].ToArray());
            rest = end < 0 ? default : rest[(end + 1)..];
        }
        return lines;
    }

    private static DateTime Utc(DateTimeOffset time) => time.UtcDateTime;

    private static DateTimeOffset Utc(DateTime time) => new(DateTime.SpecifyKind(time, DateTimeKind.Utc));

    private static JsonElement Element<T>(T value) => JsonSerializer.SerializeToElement(value, typeof(T), RowJsonContext.Default);

    internal sealed class EventRow
    {
        [JsonPropertyName("trafficType")] public string TrafficType { get; set; } = "";
        [JsonPropertyName("name")] public string Name { get; set; } = "";
        [JsonPropertyName("key")] public string? Key { get; set; }
        [JsonPropertyName("value")] public double? Value { get; set; }
        [JsonPropertyName("properties")] public string? Properties { get; set; }
        /// <summary>The event's time in milliseconds; a <c>timestamp</c> that is no whole number is kept in <see cref="OtherFields"/>.</summary>
        [JsonPropertyName("timestamp")] public long? Timestamp { get; set; }
        [JsonPropertyName("receivedAt")] public DateTime ReceivedAt { get; set; }
        [JsonPropertyName("otherFields")] public string? OtherFields { get; set; }

        public static EventRow From(TrackEvent row)
        {
            var others = row.OtherFields is { Count: > 0 } fields ? new Dictionary<string, JsonElement>(fields) : [];
            long? timestamp = null;
            if (row.Timestamp is { } sent)
            {
                if (sent.ValueKind == JsonValueKind.Number && sent.TryGetInt64(out var milliseconds))
                {
                    timestamp = milliseconds;
                }
                else
                {
                    others["timestamp"] = sent;
                }
            }
            return new EventRow
            {
                TrafficType = row.TrafficType,
                Name = row.Name,
                Key = row.Key,
                Value = row.Value is { ValueKind: JsonValueKind.Number } value ? value.GetDouble() : null,
                Properties = row.Properties is { ValueKind: JsonValueKind.Object } properties ? properties.GetRawText() : null,
                Timestamp = timestamp,
                ReceivedAt = Utc(row.ReceivedAt),
                OtherFields = others.Count > 0 ? JsonSerializer.Serialize(others, RowJsonContext.Default.DictionaryStringJsonElement) : null,
            };
        }

        public TrackEvent ToModel()
        {
            var others = OtherFields is null ? null : JsonSerializer.Deserialize(OtherFields, RowJsonContext.Default.DictionaryStringJsonElement);
            JsonElement? timestamp = Timestamp is { } ms ? Element(ms) : null;
            if (timestamp is null && others?.Remove("timestamp", out var sent) == true)
            {
                timestamp = sent;
            }
            return new TrackEvent
            {
                TrafficType = TrafficType,
                Name = Name,
                Key = Key,
                Value = Value is { } value ? Element(value) : null,
                Properties = Properties is null ? null : JsonSerializer.Deserialize(Properties, RowJsonContext.Default.JsonElement),
                Timestamp = timestamp,
                ReceivedAt = Utc(ReceivedAt),
                OtherFields = others is { Count: > 0 } ? others : null,
            };
        }
    }

    internal sealed class ImpressionRow
    {
        [JsonPropertyName("feature")] public string Feature { get; set; } = "";
        [JsonPropertyName("key")] public string Key { get; set; } = "";
        [JsonPropertyName("treatment")] public string Treatment { get; set; } = "";
        [JsonPropertyName("time")] public long Time { get; set; }
        [JsonPropertyName("changeNumber")] public long ChangeNumber { get; set; }
        [JsonPropertyName("label")] public string? Label { get; set; }
        [JsonPropertyName("bucketingKey")] public string? BucketingKey { get; set; }
        [JsonPropertyName("previousTime")] public long? PreviousTime { get; set; }
        [JsonPropertyName("receivedAt")] public DateTime ReceivedAt { get; set; }

        public static ImpressionRow From(Impression row) => new()
        {
            Feature = row.Feature, Key = row.Key, Treatment = row.Treatment, Time = row.Time, ChangeNumber = row.ChangeNumber,
            Label = row.Label, BucketingKey = row.BucketingKey, PreviousTime = row.PreviousTime, ReceivedAt = Utc(row.ReceivedAt),
        };

        public Impression ToModel() => new()
        {
            Feature = Feature, Key = Key, Treatment = Treatment, Time = Time, ChangeNumber = ChangeNumber,
            Label = Label, BucketingKey = BucketingKey, PreviousTime = PreviousTime, ReceivedAt = Utc(ReceivedAt),
        };
    }

    internal sealed class ImpressionCountRow
    {
        [JsonPropertyName("feature")] public string Feature { get; set; } = "";
        [JsonPropertyName("timeFrame")] public long TimeFrame { get; set; }
        [JsonPropertyName("count")] public long Count { get; set; }
        [JsonPropertyName("receivedAt")] public DateTime ReceivedAt { get; set; }

        public static ImpressionCountRow From(ImpressionCount row) => new()
        {
            Feature = row.Feature, TimeFrame = row.TimeFrame, Count = row.Count, ReceivedAt = Utc(row.ReceivedAt),
        };

        public ImpressionCount ToModel() => new() { Feature = Feature, TimeFrame = TimeFrame, Count = Count, ReceivedAt = Utc(ReceivedAt) };
    }
}
