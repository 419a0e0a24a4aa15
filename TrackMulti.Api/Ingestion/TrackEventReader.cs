using System.Buffers;
using System.Text.Json;
using TrackMulti.Api.Model;

namespace TrackMulti.Api.Ingestion;

/// <summary>
/// Turns a request body into a <see cref="TrackEvent"/>, or into the list of what is wrong with it, field by field,
/// by the rules the FME SDKs apply to <c>track()</c>, so S3 never holds an event FME would have refused.
/// Nothing is stored unless this succeeds. Top-level fields the model does not name are kept as sent, except
/// <c>receivedAt</c>, which is the server's.
/// </summary>
public static partial class TrackEventReader
{
    public const int MaxKeyLength = 250;
    public const int MaxProperties = 300;
    public const int MaxPropertiesBytes = 32 * 1024;

    private static readonly string[] ModelFields = ["name", "trafficType", "key", "value", "properties", "receivedAt"];

    private static readonly JsonDocumentOptions Options = new()
    {
        MaxDepth = 32,
        // Duplicate names are refused: which of two "name" fields would FME and S3 each have kept?
        AllowDuplicateProperties = false,
    };

    /// <summary>As for one event, with one level more for the array around them.</summary>
    private static readonly JsonDocumentOptions BatchOptions = Options with { MaxDepth = Options.MaxDepth + 1 };

    public static TrackEventReadResult Read(ReadOnlySequence<byte> body, DateTimeOffset receivedAt)
    {
        // The parser checks UTF-8 only in what it decodes; fields kept as sent must be valid too, or the NDJSON is not.
        // One contiguous copy at most, which the parser then reads in place.
        var bytes = Contiguous(body);
        if (!System.Text.Unicode.Utf8.IsValid(bytes.Span))
        {
            return TrackEventReadResult.Malformed("The request body is not valid UTF-8.");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes, Options);
        }
        catch (JsonException ex)
        {
            return TrackEventReadResult.Malformed($"The request body is not valid JSON: {ex.Message}");
        }

        using (document)
        {
            try
            {
                return Read(document.RootElement, receivedAt).ToLine();
            }
            catch (InvalidOperationException ex)
            {
                // An escaped lone surrogate ("\uD800") is valid JSON but no text: it surfaces when a string is decoded.
                return TrackEventReadResult.Malformed($"The request body holds a string that is not valid text: {ex.Message}");
            }
        }
    }

    /// <summary>
    /// Reads a batch: a JSON array of events, or NDJSON (one event per line; empty lines are passed over). Each event
    /// obeys <see cref="Read(ReadOnlySequence{byte}, DateTimeOffset)"/>'s rules; errors are keyed by index
    /// (<c>[3].name</c>), and one invalid event refuses the whole batch.
    /// </summary>
    public static BatchReadResult ReadBatch(ReadOnlySequence<byte> body, bool ndjson, DateTimeOffset receivedAt, int maxEvents)
    {
        var bytes = Contiguous(body);
        if (!System.Text.Unicode.Utf8.IsValid(bytes.Span))
        {
            return BatchReadResult.Malformed("The request body is not valid UTF-8.");
        }
        return ndjson ? ReadLines(bytes.Span, receivedAt, maxEvents) : ReadArray(bytes, receivedAt, maxEvents);
    }

    private static ReadOnlyMemory<byte> Contiguous(ReadOnlySequence<byte> body) => body.IsSingleSegment ? body.First : body.ToArray();

    private static BatchReadResult ReadArray(ReadOnlyMemory<byte> body, DateTimeOffset receivedAt, int maxEvents)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, BatchOptions);
        }
        catch (JsonException ex)
        {
            return BatchReadResult.Malformed($"The request body is not valid JSON: {ex.Message}");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Array)
            {
                return BatchReadResult.Malformed("The request body must be a JSON array of events (or NDJSON, with 'Content-Type: application/x-ndjson').");
            }
            var count = document.RootElement.GetArrayLength();
            if (count > maxEvents)
            {
                return BatchReadResult.TooMany(count);
            }
            var batch = new BatchBuilder(count);
            var index = 0;
            foreach (var element in document.RootElement.EnumerateArray())
            {
                batch.Add(index++, ReadElement(element, receivedAt).ToLine());
            }
            return batch.Result();
        }
    }

    private static BatchReadResult ReadLines(ReadOnlySpan<byte> body, DateTimeOffset receivedAt, int maxEvents)
    {
        var lines = new List<Range>();
        var start = 0;
        while (start < body.Length)
        {
            var end = body[start..].IndexOf((byte)'\n') is var newline and >= 0 ? start + newline : body.Length;
            var line = body[start..end].TrimEnd((byte)'\r');
            if (line.IndexOfAnyExcept(" \t"u8) >= 0)
            {
                if (lines.Count == maxEvents)
                {
                    return BatchReadResult.TooMany(lines.Count + 1 + body[end..].Count((byte)'\n'));
                }
                lines.Add(new Range(start, start + line.Length));
            }
            start = end + 1;
        }

        var batch = new BatchBuilder(lines.Count);
        for (var index = 0; index < lines.Count; index++)
        {
            try
            {
                using var document = JsonDocument.Parse(body[lines[index]].ToArray(), Options);
                batch.Add(index, ReadElement(document.RootElement, receivedAt).ToLine());
            }
            catch (JsonException ex)
            {
                batch.Add(index, TrackEventReadResult.Malformed($"Line {index + 1} is not valid JSON: {ex.Message}"));
            }
        }
        return batch.Result();
    }

    private static TrackEventReadResult ReadElement(JsonElement element, DateTimeOffset receivedAt)
    {
        try
        {
            return Read(element, receivedAt);
        }
        catch (InvalidOperationException ex)
        {
            return TrackEventReadResult.Malformed($"It holds a string that is not valid text: {ex.Message}");
        }
    }

    /// <summary>Collects a batch's events, or every error keyed by the event's index.</summary>
    private sealed class BatchBuilder(int count)
    {
        private readonly List<byte[]> _lines = new(count);
        private readonly Dictionary<string, string[]> _errors = [];

        public void Add(int index, TrackEventReadResult read)
        {
            if (read.Line is { } line)
            {
                _lines.Add(line);
            }
            else if (read.MalformedReason is { } reason)
            {
                _errors[$"[{index}]"] = [reason];
            }
            foreach (var (field, messages) in read.FieldErrors ?? new Dictionary<string, string[]>())
            {
                _errors[$"[{index}].{field}"] = messages;
            }
        }

        public BatchReadResult Result() =>
            _errors.Count > 0 ? BatchReadResult.Invalid(_errors)
            : _lines.Count == 0 ? BatchReadResult.Malformed("The batch holds no events.")
            : BatchReadResult.Ok(_lines);
    }

    private static TrackEventReadResult Read(JsonElement root, DateTimeOffset receivedAt)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            return TrackEventReadResult.Malformed("The request body must be a JSON object describing one event.");
        }

        var errors = new Dictionary<string, string[]>();
        var name = ReadString(root, "name", required: true, errors);
        if (name is not null && !EventTypePattern().IsMatch(name))
        {
            errors["name"] = ["'name' must start with a letter or digit and hold at most 80 letters, digits, '-', '_', '.' or ':' (the FME event type rule)."];
        }
        // The SDKs lower-case traffic types (with a warning); so does the Api, so both stores agree.
        var trafficType = ReadString(root, "trafficType", required: false, errors)?.ToLowerInvariant() ?? TrackEvent.DefaultTrafficType;
        var key = ReadString(root, "key", required: false, errors)?.Trim();
        if (key is { Length: > MaxKeyLength })
        {
            errors["key"] = [$"'key' must be at most {MaxKeyLength} characters after trimming."];
        }
        var value = ReadNumber(root, "value", errors);
        var properties = ReadObject(root, "properties", errors);
        if (properties is { ValueKind: JsonValueKind.Object } props)
        {
            CheckProperties(props, errors);
        }
        if (root.TryGetProperty("receivedAt", out _))
        {
            errors["receivedAt"] = ["'receivedAt' is set by the server; leave it out."];
        }
        Dictionary<string, JsonElement>? others = null;
        foreach (var field in root.EnumerateObject())
        {
            var fieldName = field.Name;
            if (ModelFieldLike(fieldName) is not { } model)
            {
                (others ??= [])[fieldName] = field.Value;
            }
            else if (model != fieldName)
            {
                // "Name" next to "name" would be two columns to a case-insensitive reader such as Athena's JSON SerDe.
                errors[fieldName] = [$"'{fieldName}' differs from the field '{model}' only in case; use '{model}'."];
            }
        }

        if (errors.Count > 0)
        {
            return TrackEventReadResult.Invalid(errors);
        }

        return TrackEventReadResult.Ok(new TrackEvent
        {
            TrafficType = trafficType,
            Name = name!,
            Key = key,
            Value = value,
            Properties = properties,
            ReceivedAt = receivedAt,
            OtherFields = others,
        });
    }

    private static string? ModelFieldLike(string name)
    {
        foreach (var model in ModelFields)
        {
            if (string.Equals(model, name, StringComparison.OrdinalIgnoreCase))
            {
                return model;
            }
        }
        return null;
    }

    /// <summary>FME's limits on properties: flat values only, at most 300 of them, at most 32 KB.</summary>
    private static void CheckProperties(JsonElement properties, Dictionary<string, string[]> errors)
    {
        var problems = new List<string>();
        var count = 0;
        // The size as the FME SDKs estimate it (UTF-16 strings, 8 bytes a number, 4 a boolean, 1 KB for the event),
        // so what FME refuses as too large is refused here too.
        var size = 1024;
        foreach (var property in properties.EnumerateObject())
        {
            count++;
            size += 2 * property.Name.Length;
            switch (property.Value.ValueKind)
            {
                case JsonValueKind.String:
                    size += 2 * property.Value.GetString()!.Length;
                    break;
                case JsonValueKind.Number:
                    size += 8;
                    break;
                case JsonValueKind.True or JsonValueKind.False:
                    size += 4;
                    break;
                case JsonValueKind.Object or JsonValueKind.Array:
                    problems.Add($"'properties.{property.Name}' must be a string, number, boolean or null, not an {(property.Value.ValueKind == JsonValueKind.Object ? "object" : "array")}.");
                    break;
            }
        }
        if (count > MaxProperties)
        {
            problems.Add($"'properties' has {count} entries; at most {MaxProperties} are allowed.");
        }
        if (size > MaxPropertiesBytes)
        {
            problems.Add($"'properties' come to {size} bytes as FME counts them (1 KB + 2 per character of names and strings, 8 per number, 4 per boolean); at most {MaxPropertiesBytes} are allowed.");
        }
        if (problems.Count > 0)
        {
            errors["properties"] = [.. problems];
        }
    }

    // \z, not $: in .NET, $ also matches before a final newline, which FME's pattern does not allow.
    [System.Text.RegularExpressions.GeneratedRegex(@"^[a-zA-Z0-9][-_.:a-zA-Z0-9]{0,79}\z")]
    private static partial System.Text.RegularExpressions.Regex EventTypePattern();

    private static string? ReadString(JsonElement root, string field, bool required, Dictionary<string, string[]> errors)
    {
        if (!root.TryGetProperty(field, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            if (required)
            {
                errors[field] = [$"'{field}' is required."];
            }
            return null;
        }

        if (element.ValueKind != JsonValueKind.String)
        {
            errors[field] = [$"'{field}' must be a string."];
            return null;
        }

        var text = element.GetString();
        if (string.IsNullOrWhiteSpace(text))
        {
            errors[field] = [$"'{field}' must not be empty."];
            return null;
        }
        return text;
    }

    /// <summary>A finite number or an explicit null, kept as received (so "1.50" stays "1.50").</summary>
    private static JsonElement? ReadNumber(JsonElement root, string field, Dictionary<string, string[]> errors)
    {
        if (!root.TryGetProperty(field, out var element))
        {
            return null;
        }
        if (element.ValueKind == JsonValueKind.Null)
        {
            return element;
        }

        if (element.ValueKind != JsonValueKind.Number || !element.TryGetDouble(out var number) || !double.IsFinite(number))
        {
            errors[field] = [$"'{field}' must be a finite number or null."];
            return null;
        }
        return element;
    }

    /// <summary>An object, or an explicit null, kept as received.</summary>
    private static JsonElement? ReadObject(JsonElement root, string field, Dictionary<string, string[]> errors)
    {
        if (!root.TryGetProperty(field, out var element))
        {
            return null;
        }
        if (element.ValueKind == JsonValueKind.Null)
        {
            return element;
        }

        if (element.ValueKind != JsonValueKind.Object)
        {
            errors[field] = [$"'{field}' must be a JSON object."];
            return null;
        }
        return element;
    }
}

public sealed record TrackEventReadResult
{
    /// <summary>The event as read; its values point into the request's parsed document, valid only while it is.</summary>
    internal TrackEvent? Event { get; private init; }

    /// <summary>The event's NDJSON line, as it is stored (without the newline).</summary>
    public byte[]? Line { get; private init; }

    /// <summary>Set when the body is not a JSON object at all.</summary>
    public string? MalformedReason { get; private init; }

    /// <summary>Field name → what is wrong with it.</summary>
    public IReadOnlyDictionary<string, string[]>? FieldErrors { get; private init; }

    public static TrackEventReadResult Ok(TrackEvent evt) => new() { Event = evt };

    /// <summary>Writes the event's line while its document is still alive (no copy of its values is made).</summary>
    internal TrackEventReadResult ToLine() => Event is { } evt ? new() { Line = evt.ToJsonLine() } : this;

    public static TrackEventReadResult Malformed(string reason) => new() { MalformedReason = reason };

    public static TrackEventReadResult Invalid(IReadOnlyDictionary<string, string[]> errors) => new() { FieldErrors = errors };
}

public sealed record BatchReadResult
{
    /// <summary>Each event's NDJSON line, in order.</summary>
    public IReadOnlyList<byte[]>? Lines { get; private init; }

    /// <summary>Set when the body is not a batch at all.</summary>
    public string? MalformedReason { get; private init; }

    /// <summary>Set when the batch holds more events than allowed: how many it holds (at least).</summary>
    public int? TooManyEvents { get; private init; }

    /// <summary><c>[index].field</c> → what is wrong with it.</summary>
    public IReadOnlyDictionary<string, string[]>? FieldErrors { get; private init; }

    public static BatchReadResult Ok(IReadOnlyList<byte[]> lines) => new() { Lines = lines };

    public static BatchReadResult Malformed(string reason) => new() { MalformedReason = reason };

    public static BatchReadResult TooMany(int count) => new() { TooManyEvents = count };

    public static BatchReadResult Invalid(IReadOnlyDictionary<string, string[]> errors) => new() { FieldErrors = errors };
}
