using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using TrackMulti.Api.Model;

namespace TrackMulti.Api.Sinks.Fme;

/// <summary>One event in the shape of FME's <c>POST /events/bulk</c> (what the FME SDKs send).</summary>
public sealed record FmeEvent(
    string EventTypeId,
    string TrafficTypeName,
    string Key,
    JsonElement? Value,
    long Timestamp,
    JsonElement? Properties)
{
    /// <summary>The row as FME takes it, or null when it has no <c>key</c> (FME needs one).</summary>
    public static FmeEvent? From(TrackEvent row) => row.Key is not { Length: > 0 } key ? null : new FmeEvent(
        row.Name,
        row.TrafficType,
        key,
        row.Value,
        TimestampOf(row),
        row.Properties is { ValueKind: JsonValueKind.Object } properties ? properties : null);

    /// <summary>The event's own time when it carries one (<c>timestamp</c>: milliseconds or an ISO time), else when it arrived.</summary>
    private static long TimestampOf(TrackEvent row)
    {
        if (row.Timestamp is { } own)
        {
            if (own.ValueKind == JsonValueKind.Number && own.TryGetInt64(out var milliseconds) && milliseconds > 0)
            {
                return milliseconds;
            }
            if (own.ValueKind == JsonValueKind.String
                && DateTimeOffset.TryParse(own.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time))
            {
                return time.ToUnixTimeMilliseconds();
            }
        }
        return row.ReceivedAt.ToUnixTimeMilliseconds();
    }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(List<FmeEvent>))]
[JsonSerializable(typeof(List<FmeImpressionGroup>))]
[JsonSerializable(typeof(FmeImpressionCounts))]
internal sealed partial class FmeJsonContext : JsonSerializerContext;
