using System.Buffers;
using System.Text.Json;
using TrackMulti.Api.Model;

namespace TrackMulti.Api.Ingestion;

/// <summary>
/// Reads the FME SDK's own posts, in its exact shapes: <c>events/bulk</c> (an array of events),
/// <c>testImpressions/bulk</c> (impressions grouped by flag), <c>testImpressions/count</c>, and each one's beacon
/// (<c>{"entries": …, "token": "&lt;sdk key&gt;", "sdk": …}</c>, sent as <c>text/plain</c> when a page closes). Events obey
/// <c>/api/track</c>'s rules; one invalid entry refuses the whole post, with errors keyed by where it is
/// (<c>[3].eventTypeId</c>, <c>[0].i[2].k</c>, <c>pf[1].rc</c>).
/// </summary>
public static class FmeSdkReader
{
    public const int MaxFeatureLength = 250;

    // The fields of the impression posts, each read by its rule; the arrays below give them to the document.
    private static readonly TextField Flag = new("f", Required: true, MaxFeatureLength);
    private static readonly TextField Key = new("k", Required: true, TrackEventReader.MaxKeyLength);
    private static readonly TextField Treatment = new("t", Required: true, MaxFeatureLength);
    private static readonly WholeNumberField Time = new("m", Required: true, Minimum: 1);
    private static readonly WholeNumberField ChangeNumber = new("c", Required: true, Minimum: long.MinValue);
    private static readonly TextField Label = new("r", Required: false, MaxFeatureLength);
    private static readonly TextField BucketingKey = new("b", Required: false, TrackEventReader.MaxKeyLength);
    private static readonly WholeNumberField PreviousTime = new("pt", Required: false, Minimum: 0);
    private static readonly WholeNumberField Hour = new("m", Required: true, Minimum: 1);
    private static readonly WholeNumberField Count = new("rc", Required: true, Minimum: 0);

    /// <summary>An impression group's fields besides <c>i</c> (its impressions); others are passed over.</summary>
    public static readonly IReadOnlyList<FmeSdkField> ImpressionGroupFields = [Flag];

    /// <summary>An impression's fields; others are passed over.</summary>
    public static readonly IReadOnlyList<FmeSdkField> ImpressionFields = [Key, Treatment, Time, ChangeNumber, Label, BucketingKey, PreviousTime];

    /// <summary>An impression count's fields; others are passed over.</summary>
    public static readonly IReadOnlyList<FmeSdkField> ImpressionCountFields = [Flag, Hour, Count];

    private static readonly JsonDocumentOptions Options = new() { MaxDepth = 34, AllowDuplicateProperties = false };

    public static FmeSdkReadResult ReadEvents(ReadOnlySequence<byte> body, bool beacon, DateTimeOffset receivedAt, int maxEvents) =>
        Read(body, beacon, JsonValueKind.Array, "a JSON array of events",
            events => TrackEventReader.ReadEvents(events, receivedAt, maxEvents, TrackEventReader.EventShape.FmeSdk));

    /// <summary>Bounded by the body size alone: an SDK queues thousands of impressions between two posts.</summary>
    public static FmeSdkReadResult ReadImpressions(ReadOnlySequence<byte> body, bool beacon, DateTimeOffset receivedAt) =>
        Read(body, beacon, JsonValueKind.Array, "a JSON array of impressions by flag ([{\"f\": flag, \"i\": [...]}])",
            groups => Impressions(groups, receivedAt));

    public static FmeSdkReadResult ReadCounts(ReadOnlySequence<byte> body, bool beacon, DateTimeOffset receivedAt) =>
        Read(body, beacon, JsonValueKind.Object, "a JSON object of impression counts ({\"pf\": [...]})",
            counts => Counts(counts, receivedAt));

    private static FmeSdkReadResult Read(
        ReadOnlySequence<byte> body, bool beacon, JsonValueKind kind, string shape, Func<JsonElement, BatchReadResult> read)
    {
        using var contiguous = new ContiguousBody(body);
        var bytes = contiguous.Memory;
        if (!System.Text.Unicode.Utf8.IsValid(bytes.Span))
        {
            return new(BatchReadResult.Malformed("The request body is not valid UTF-8."), null);
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes, Options);
        }
        catch (JsonException ex)
        {
            return new(BatchReadResult.Malformed($"The request body is not valid JSON: {ex.Message}"), null);
        }
        using (document)
        {
            var root = document.RootElement;
            string? token = null;
            if (beacon)
            {
                if (root.ValueKind != JsonValueKind.Object)
                {
                    return new(BatchReadResult.Malformed("A beacon is a JSON object with 'entries' and 'token'."), null);
                }
                token = root.TryGetProperty("token", out var sent) && sent.ValueKind == JsonValueKind.String ? sent.GetString() : null;
                if (!root.TryGetProperty("entries", out var entries))
                {
                    return new(BatchReadResult.Malformed("A beacon is a JSON object with 'entries' and 'token'."), token);
                }
                root = entries;
            }
            if (root.ValueKind != kind)
            {
                return new(BatchReadResult.Malformed($"The {(beacon ? "beacon's entries" : "request body")} must be {shape}."), token);
            }
            try
            {
                return new(read(root), token);
            }
            catch (InvalidOperationException ex)
            {
                // An escaped lone surrogate ("\uD800") is valid JSON but no text: it surfaces when a string is decoded.
                return new(BatchReadResult.Malformed($"The request body holds a string that is not valid text: {ex.Message}"), token);
            }
        }
    }

    private static BatchReadResult Impressions(JsonElement groups, DateTimeOffset receivedAt)
    {
        var errors = new Errors();
        var lines = new List<byte[]>();
        var g = 0;
        foreach (var group in groups.EnumerateArray())
        {
            var at = $"[{g++}]";
            if (group.ValueKind != JsonValueKind.Object)
            {
                errors.Add(at, "Each entry must be an object {\"f\": flag, \"i\": [impressions]}.");
                continue;
            }
            var feature = errors.Text(group, Flag, at);
            if (!group.TryGetProperty("i", out var impressions) || impressions.ValueKind != JsonValueKind.Array)
            {
                errors.Add($"{at}.i", "'i' must be an array of impressions.");
                continue;
            }
            var n = 0;
            foreach (var impression in impressions.EnumerateArray())
            {
                var where = $"{at}.i[{n++}]";
                if (impression.ValueKind != JsonValueKind.Object)
                {
                    errors.Add(where, "Each impression must be an object.");
                    continue;
                }
                var key = errors.Text(impression, Key, where);
                var treatment = errors.Text(impression, Treatment, where);
                var time = errors.Integer(impression, Time, where);
                var changeNumber = errors.Integer(impression, ChangeNumber, where);
                var label = errors.Text(impression, Label, where);
                var bucketingKey = errors.Text(impression, BucketingKey, where);
                var previousTime = errors.Integer(impression, PreviousTime, where);
                if (errors.Any || feature is null)
                {
                    continue;
                }
                lines.Add(new Impression
                {
                    Feature = feature,
                    Key = key!,
                    Treatment = treatment!,
                    Time = time!.Value,
                    ChangeNumber = changeNumber!.Value,
                    Label = label,
                    BucketingKey = bucketingKey,
                    PreviousTime = previousTime,
                    ReceivedAt = receivedAt,
                }.ToJsonLine());
            }
        }
        return errors.Result(lines, "The post holds no impressions.");
    }

    private static BatchReadResult Counts(JsonElement counts, DateTimeOffset receivedAt)
    {
        if (!counts.TryGetProperty("pf", out var perFeature) || perFeature.ValueKind != JsonValueKind.Array)
        {
            return BatchReadResult.Malformed("Impression counts are {\"pf\": [{\"f\": flag, \"m\": hour, \"rc\": count}]}.");
        }
        var errors = new Errors();
        var lines = new List<byte[]>(perFeature.GetArrayLength());
        var n = 0;
        foreach (var entry in perFeature.EnumerateArray())
        {
            var where = $"pf[{n++}]";
            if (entry.ValueKind != JsonValueKind.Object)
            {
                errors.Add(where, "Each count must be an object.");
                continue;
            }
            var feature = errors.Text(entry, Flag, where);
            var timeFrame = errors.Integer(entry, Hour, where);
            var count = errors.Integer(entry, Count, where);
            if (!errors.Any)
            {
                lines.Add(new ImpressionCount { Feature = feature!, TimeFrame = timeFrame!.Value, Count = count!.Value, ReceivedAt = receivedAt }.ToJsonLine());
            }
        }
        return errors.Result(lines, "The post holds no impression counts.");
    }

    /// <summary>Errors by where they are, and the typed reads that add them.</summary>
    private sealed class Errors
    {
        private Dictionary<string, string[]>? _byPlace;

        public bool Any => _byPlace is not null;

        public void Add(string place, string message) => (_byPlace ??= [])[place] = [message];

        public string? Text(JsonElement parent, TextField rule, string at)
        {
            var (field, maxLength) = (rule.Name, rule.MaxLength);
            if (!Present(parent, field, at, rule.Required, out var value))
            {
                return null;
            }
            if (value.ValueKind != JsonValueKind.String || value.GetString() is not { } text || string.IsNullOrWhiteSpace(text))
            {
                Add($"{at}.{field}", $"'{field}' must be a non-empty string.");
                return null;
            }
            if (text.Length > maxLength)
            {
                Add($"{at}.{field}", $"'{field}' must be at most {maxLength} characters.");
                return null;
            }
            return text;
        }

        public long? Integer(JsonElement parent, WholeNumberField rule, string at)
        {
            var (field, minimum) = (rule.Name, rule.Minimum);
            if (!Present(parent, field, at, rule.Required, out var value))
            {
                return null;
            }
            if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var number) || number < minimum)
            {
                Add($"{at}.{field}", minimum > 0 ? $"'{field}' must be a positive whole number." : minimum == 0
                    ? $"'{field}' must be a whole number, 0 or more." : $"'{field}' must be a whole number.");
                return null;
            }
            return number;
        }

        /// <summary>The field's value unless it is absent or null (an error when it is required).</summary>
        private bool Present(JsonElement parent, string field, string at, bool required, out JsonElement value)
        {
            if (parent.TryGetProperty(field, out value) && value.ValueKind != JsonValueKind.Null)
            {
                return true;
            }
            if (required)
            {
                Add($"{at}.{field}", $"'{field}' is required.");
            }
            return false;
        }

        public BatchReadResult Result(List<byte[]> lines, string empty) =>
            _byPlace is { } errors ? BatchReadResult.Invalid(errors) : BatchReadResult.Rows(lines, empty);
    }
}

/// <summary>A field of the FME SDK's impression posts, by the rules <see cref="FmeSdkReader"/> reads it (the document states them).</summary>
/// <param name="Required">Absent or null refuses the post; else absent and null are the same.</param>
public abstract record FmeSdkField(string Name, bool Required);

/// <summary>A string, not blank, at most <paramref name="MaxLength"/> UTF-16 characters.</summary>
public sealed record TextField(string Name, bool Required, int MaxLength) : FmeSdkField(Name, Required);

/// <summary>A whole number (64 bits) of at least <paramref name="Minimum"/>.</summary>
public sealed record WholeNumberField(string Name, bool Required, long Minimum) : FmeSdkField(Name, Required);

/// <param name="Read">The rows, or why there are none.</param>
/// <param name="Token">The SDK key a beacon carried in its body (beacons cannot send headers).</param>
public sealed record FmeSdkReadResult(BatchReadResult Read, string? Token);
