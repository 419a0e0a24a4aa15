using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using TrackMulti.Api.Model;

namespace TrackMulti.Api.Replay;

/// <summary>
/// <c>POST /api/replay</c>'s body: <c>{"sink": "fme", "from": "&lt;ISO-8601&gt;", "to": "&lt;ISO-8601&gt;", "streams": [...]}</c>.
/// Every row whose <c>receivedAt</c> lies in <c>[from, to)</c> is delivered again to the sink; <c>streams</c> is
/// optional (default: those the sink takes).
/// </summary>
public sealed partial record ReplayRequest(string Sink, DateTimeOffset From, DateTimeOffset To, IReadOnlyList<string>? Streams)
{
    public const string SinkField = "sink";
    public const string FromField = "from";
    public const string ToField = "to";
    public const string StreamsField = "streams";

    /// <summary>A time with its offset, to the second at least: <c>2026-12-03T10:00:00Z</c>, <c>2026-12-03T11:00:00.5+01:00</c>.</summary>
    public const string TimePatternText = @"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,7})?(?:Z|[+-]\d{2}:\d{2})\z";

    /// <summary>The request, or what is wrong with it, by field. Malformed JSON throws <see cref="JsonException"/>.</summary>
    public static (ReplayRequest? Request, Dictionary<string, string[]>? Errors) Read(ReadOnlySpan<byte> body)
    {
        using var document = JsonDocument.Parse(body.ToArray());
        var errors = new Dictionary<string, string[]>();
        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            return (null, new() { [""] = ["Send an object: {\"sink\": \"fme\", \"from\": \"<ISO-8601>\", \"to\": \"<ISO-8601>\"}."] });
        }
        var root = document.RootElement;
        foreach (var property in root.EnumerateObject())
        {
            if (property.Name is not (SinkField or FromField or ToField or StreamsField))
            {
                errors[property.Name] = [$"'{property.Name}' is no field of a replay (sink, from, to, streams)."];
            }
        }
        var sink = root.TryGetProperty(SinkField, out var sent) && sent.ValueKind == JsonValueKind.String ? sent.GetString() : null;
        if (sink is null)
        {
            errors[SinkField] = ["Name the sink to replay to: \"fme\"."];
        }
        var from = Time(root, FromField, errors);
        var to = Time(root, ToField, errors);
        if (from is { } start && to is { } end && start >= end)
        {
            errors[ToField] = [$"'to' must be after 'from' (the window is [from, to))."];
        }

        List<string>? streams = null;
        if (root.TryGetProperty(StreamsField, out var listed))
        {
            if (listed.ValueKind != JsonValueKind.Array || listed.GetArrayLength() == 0
                || listed.EnumerateArray().Any(s => s.ValueKind != JsonValueKind.String || !Model.Streams.All.Contains(s.GetString())))
            {
                errors[StreamsField] = [$"'streams' must be a list of one or more of: {string.Join(", ", Model.Streams.All)}."];
            }
            else
            {
                streams = [.. listed.EnumerateArray().Select(s => s.GetString()!).Distinct()];
            }
        }
        return errors.Count > 0 ? (null, errors) : (new ReplayRequest(sink!, from!.Value, to!.Value, streams), null);
    }

    private static DateTimeOffset? Time(JsonElement root, string field, Dictionary<string, string[]> errors)
    {
        if (root.TryGetProperty(field, out var sent) && sent.ValueKind == JsonValueKind.String
            && TimePattern().IsMatch(sent.GetString()!)
            && DateTimeOffset.TryParse(sent.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.None, out var time))
        {
            return time.ToUniversalTime();
        }
        errors[field] = [$"'{field}' must be an ISO-8601 time with its offset, such as 2026-12-03T10:00:00Z."];
        return null;
    }

    [GeneratedRegex(TimePatternText)]
    private static partial Regex TimePattern();
}

/// <summary>One replay as <c>GET /api/replay/{id}</c> shows it.</summary>
/// <param name="State"><c>running</c>, <c>done</c> or <c>failed</c> (<see cref="ReplayStates"/>).</param>
/// <param name="Streams">The streams whose rows it delivers.</param>
/// <param name="Objects">S3 objects that may hold rows of the window (the plan, fixed when it started).</param>
/// <param name="ObjectsDone">Of them, read and delivered (or passed over).</param>
/// <param name="ObjectsPassedOver">Of them, passed over: gone from S3 since the replay began, or unreadable.</param>
/// <param name="Events">Rows of the window FME accepted.</param>
/// <param name="Dropped">Rows of the window FME can never take: refused posts, events without a key, unreadable rows.</param>
/// <param name="LastError">While running: why the last attempt failed (it is tried again) or what the replay waits for; once
/// failed: why; else the last object passed over or post FME refused.</param>
public sealed record ReplayStatus(
    string Id, string State, string Sink, DateTimeOffset From, DateTimeOffset To, IReadOnlyList<string> Streams,
    int Objects, int ObjectsDone, int ObjectsPassedOver, long Events, long Dropped, string? LastError, DateTimeOffset CreatedAt, DateTimeOffset? FinishedAt);

public static class ReplayStates
{
    public const string Running = "running";
    public const string Done = "done";
    public const string Failed = "failed";
}
