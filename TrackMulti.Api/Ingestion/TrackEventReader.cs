using System.Buffers;
using System.Text.Json;

namespace TrackMulti.Api.Ingestion;

/// <summary>
/// Turns a request body into a <see cref="TrackEvent"/>, or into the list of what is wrong with it, field by field.
/// Nothing is stored unless this succeeds.
/// </summary>
public static class TrackEventReader
{
    private static readonly JsonDocumentOptions Options = new()
    {
        MaxDepth = 32,
        // Duplicate names are refused: which of two "name" fields would FME and S3 each have kept?
        AllowDuplicateProperties = false,
    };

    public static TrackEventReadResult Read(ReadOnlySequence<byte> body, DateTimeOffset receivedAt)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, Options);
        }
        catch (JsonException ex)
        {
            return TrackEventReadResult.Malformed($"The request body is not valid JSON: {ex.Message}");
        }

        using (document)
        {
            return Read(document.RootElement, receivedAt);
        }
    }

    private static TrackEventReadResult Read(JsonElement root, DateTimeOffset receivedAt)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            return TrackEventReadResult.Malformed("The request body must be a JSON object describing one event.");
        }

        var errors = new Dictionary<string, string[]>();
        var name = ReadString(root, "name", required: true, errors);
        var trafficType = ReadString(root, "trafficType", required: false, errors) ?? TrackEvent.DefaultTrafficType;
        var key = ReadString(root, "key", required: false, errors);
        var value = ReadNumber(root, "value", errors);
        var properties = ReadObject(root, "properties", errors);

        if (errors.Count > 0)
        {
            return TrackEventReadResult.Invalid(errors);
        }

        Dictionary<string, JsonElement>? others = null;
        foreach (var field in root.EnumerateObject())
        {
            if (field.Name is not ("name" or "trafficType" or "key" or "value" or "properties" or "receivedAt"))
            {
                (others ??= [])[field.Name] = field.Value.Clone();
            }
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

    private static double? ReadNumber(JsonElement root, string field, Dictionary<string, string[]> errors)
    {
        if (!root.TryGetProperty(field, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (element.ValueKind != JsonValueKind.Number || !element.TryGetDouble(out var number) || !double.IsFinite(number))
        {
            errors[field] = [$"'{field}' must be a finite number or null."];
            return null;
        }
        return number;
    }

    private static JsonElement? ReadObject(JsonElement root, string field, Dictionary<string, string[]> errors)
    {
        if (!root.TryGetProperty(field, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (element.ValueKind != JsonValueKind.Object)
        {
            errors[field] = [$"'{field}' must be a JSON object."];
            return null;
        }
        return element.Clone();
    }
}

public sealed record TrackEventReadResult
{
    public TrackEvent? Event { get; private init; }

    /// <summary>Set when the body is not a JSON object at all.</summary>
    public string? MalformedReason { get; private init; }

    /// <summary>Field name → what is wrong with it.</summary>
    public IReadOnlyDictionary<string, string[]>? FieldErrors { get; private init; }

    public static TrackEventReadResult Ok(TrackEvent evt) => new() { Event = evt };

    public static TrackEventReadResult Malformed(string reason) => new() { MalformedReason = reason };

    public static TrackEventReadResult Invalid(IReadOnlyDictionary<string, string[]> errors) => new() { FieldErrors = errors };
}
