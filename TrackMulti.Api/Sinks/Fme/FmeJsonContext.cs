using System.Text.Json.Serialization;
using TrackMulti.Api.Model;

namespace TrackMulti.Api.Sinks.Fme;

/// <summary>FME's posts, serialized by generated code in FME's field names.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(List<FmeEvent>))]
[JsonSerializable(typeof(List<FmeImpressionGroup>))]
[JsonSerializable(typeof(FmeImpressionCounts))]
internal sealed partial class FmeJsonContext : JsonSerializerContext;
