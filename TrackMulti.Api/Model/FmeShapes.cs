using System.Globalization;
using System.Text.Json;

namespace TrackMulti.Api.Model;

// Harness FME's wire shapes: what the FME SDK posts to /fme/api and what the FME sink posts to FME's events API.

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

/// <summary>One flag's impressions in <c>testImpressions/bulk</c>: <c>{"f": flag, "i": [...]}</c>.</summary>
public sealed record FmeImpressionGroup(string F, List<FmeImpression> I);

/// <summary>An impression as FME takes it: key, treatment, time, change number, label, bucketing key, previous time.</summary>
public sealed record FmeImpression(string K, string T, long M, long C, string? R, string? B, long? Pt);

/// <summary><c>testImpressions/count</c>'s body: <c>{"pf": [{"f": flag, "m": hour, "rc": count}]}</c>.</summary>
public sealed record FmeImpressionCounts(List<FmeImpressionCount> Pf);

public sealed record FmeImpressionCount(string F, long M, long Rc);

/// <summary>FME's SDK keys as TrackMulti reads them.</summary>
public static class FmeKeys
{
    /// <summary>The SDK key of FME's offline mode: nothing is forwarded with it, and no SDK posts with it.</summary>
    public const string Offline = "localhost";
}
