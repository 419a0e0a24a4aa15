using Mono.Cecil;
using Mono.Cecil.Cil;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.Unit;

/// <summary>
/// The Api's folders depend on each other one way only (docs/architecture.md): read from the compiled assembly (every
/// type, member signature, generic constraint, attribute and method body, lambdas and state machines counted with the
/// type that wrote them), so a new reference against the grain fails here, and a mention in a comment does not. A
/// constant or a <c>nameof</c> leaves no reference in compiled code, so those escape it.
/// </summary>
public sealed class ArchitectureTests
{
    private const string Api = "TrackMulti.Api";

    /// <summary>What each folder may use besides itself. <c>TrackMulti.Api</c> itself (Program, the composition root) uses all.</summary>
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["Model"] = [],
        ["Telemetry"] = [],
        ["Pipeline"] = [],
        ["Spool"] = ["Pipeline", "Model", "Telemetry"],
        ["Batching"] = ["Pipeline", "Spool", "Model"],
        ["Sinks"] = ["Pipeline", "Spool", "Telemetry"],
        ["Sinks.S3"] = ["Sinks", "Pipeline", "Spool", "Model", "Telemetry"],
        ["Sinks.Fme"] = ["Sinks", "Pipeline", "Spool", "Model", "Telemetry"],
        ["Ingestion"] = ["Pipeline", "Model", "Telemetry"],
        ["Replay"] = ["Ingestion", "Sinks.S3", "Sinks.Fme", "Sinks", "Pipeline", "Spool", "Model", "Telemetry"],
    };

    [Fact]
    public void The_Api_folders_use_each_other_only_as_the_table_allows()
    {
        var uses = FolderReferences(typeof(TrackMulti.Api.Pipeline.IEventPipeline).Assembly.Location, Api);

        Assert.Equal(Allowed.Keys.Append("").Order(), uses.Keys.Order()); // a new folder must say what it may use
        var against = uses.Where(folder => folder.Key != "")
            .SelectMany(folder => folder.Value.Where(used => used.Key != folder.Key && !Allowed[folder.Key].Contains(used.Key))
                .Select(used => $"{folder.Key} uses {used.Key}: {string.Join(", ", used.Value.Order().Take(5))}"))
            .ToList();
        Assert.Empty(against);
    }

    [Fact]
    public void Every_arrow_in_the_table_is_one_the_code_has()
    {
        var uses = FolderReferences(typeof(TrackMulti.Api.Pipeline.IEventPipeline).Assembly.Location, Api);

        var unused = Allowed.SelectMany(folder => folder.Value.Where(target => !uses[folder.Key].ContainsKey(target))
            .Select(target => $"{folder.Key} → {target}")).ToList();
        Assert.Empty(unused); // an arrow the code no longer has: take it out, so adding it back is a decision
    }

    [Fact]
    public void Every_kind_of_reference_is_seen()
    {
        var uses = FolderReferences(typeof(ArchitectureTests).Assembly.Location, "TrackMulti.Tests.Unit.Samples");

        Assert.Equal(
            ["AsAttribute", "AsAttributeArray", "AsAttributeEnum", "AsAttributeField", "AsAttributeObject", "AsBase", "AsCatch",
                "AsConstraint", "AsField", "AsGenericArgument", "AsInterface", "AsLambda", "AsLocal", "AsMethodCall", "AsMethodConstraint",
                "AsNew", "AsParameter", "AsProperty", "AsReturn", "AsReturnAttribute", "AsStateMachine", "AsTypeOf"],
            uses.Keys.Where(folder => folder is not ("Target" or "")).Order());
        // Each sample names Target in its one way (and the samples' own attributes, in their root namespace).
        var unseen = uses.Where(folder => folder.Key is not ("Target" or "")
            && !folder.Value.Keys.Where(target => target != "").SequenceEqual(["Target"])).Select(folder => folder.Key);
        Assert.Empty(unseen);
    }

    /// <summary>The table is by namespace, so each file must declare its folder's: a type in another's would escape it.</summary>
    [Fact]
    public void Every_source_file_declares_the_namespace_of_its_folder()
    {
        var api = Path.Combine(TestPaths.RepositoryRoot, Api);
        var wrong = new List<string>();
        foreach (var file in Directory.EnumerateFiles(api, "*.cs", SearchOption.AllDirectories))
        {
            var folder = Path.GetRelativePath(api, Path.GetDirectoryName(file)!);
            if (folder.Split(Path.DirectorySeparatorChar)[0] is "obj" or "bin")
            {
                continue;
            }
            var expected = folder == "." ? Api : $"{Api}.{folder.Replace(Path.DirectorySeparatorChar, '.')}";
            var declared = File.ReadLines(file).Where(line => line.StartsWith("namespace ", StringComparison.Ordinal))
                .Select(line => line["namespace ".Length..].TrimEnd(';', ' ')).ToList();
            if (!(declared is [var only] && only == expected) && !(folder == "." && declared.Count == 0))
            {
                wrong.Add($"{Path.GetRelativePath(api, file)} declares {string.Join(", ", declared)}, not {expected}");
            }
        }
        Assert.Empty(wrong);
    }

    /// <summary>For each folder under <paramref name="root"/>, the other folders its types use, with the types that do.</summary>
    private static Dictionary<string, Dictionary<string, HashSet<string>>> FolderReferences(string assemblyPath, string root)
    {
        using var assembly = AssemblyDefinition.ReadAssembly(assemblyPath);
        var uses = new Dictionary<string, Dictionary<string, HashSet<string>>>();
        foreach (var type in assembly.MainModule.GetTypes())
        {
            if (FolderOf(type, root) is not { } folder)
            {
                continue;
            }
            var used = uses.TryGetValue(folder, out var found) ? found : uses[folder] = [];
            foreach (var reference in References(type))
            {
                if (FolderOf(reference, root) is { } target && target != folder)
                {
                    (used.TryGetValue(target, out var by) ? by : used[target] = []).Add($"{type.Name} → {reference.Name}");
                }
            }
        }
        return uses;
    }

    /// <summary>The folder of a type under <paramref name="root"/> (a nested type's is its outermost type's), "" for the root's own, else null.</summary>
    private static string? FolderOf(TypeReference type, string root)
    {
        while (type.DeclaringType is { } outer)
        {
            type = outer;
        }
        return type.Namespace == root ? ""
            : type.Namespace.StartsWith(root + ".", StringComparison.Ordinal) ? type.Namespace[(root.Length + 1)..]
            : null;
    }

    /// <summary>Every type <paramref name="type"/> names: base, interfaces, attributes, members' signatures and bodies.</summary>
    private static IEnumerable<TypeReference> References(TypeDefinition type)
    {
        var found = new List<TypeReference>();
        void Add(TypeReference? reference)
        {
            switch (reference)
            {
                case null or GenericParameter:
                    return;
                case GenericInstanceType generic:
                    Add(generic.ElementType);
                    generic.GenericArguments.ToList().ForEach(Add);
                    return;
                case TypeSpecification specification: // arrays, by-refs, pointers, modifiers
                    Add(specification.ElementType);
                    return;
                default:
                    found.Add(reference);
                    return;
            }
        }
        void AddArgument(CustomAttributeArgument argument)
        {
            Add(argument.Type); // an enum's type, when the argument is one of its values
            switch (argument.Value)
            {
                case TypeReference named:
                    Add(named);
                    break;
                case CustomAttributeArgument boxed:
                    AddArgument(boxed);
                    break;
                case CustomAttributeArgument[] items:
                    items.ToList().ForEach(AddArgument);
                    break;
            }
        }
        void AddAttributes(ICustomAttributeProvider provider)
        {
            foreach (var attribute in provider.CustomAttributes)
            {
                Add(attribute.AttributeType);
                attribute.ConstructorArguments.ToList().ForEach(AddArgument);
                attribute.Properties.Concat(attribute.Fields).ToList().ForEach(named => AddArgument(named.Argument));
            }
        }
        void AddGenericParameters(IGenericParameterProvider provider)
        {
            foreach (var parameter in provider.GenericParameters)
            {
                parameter.Constraints.ToList().ForEach(constraint => Add(constraint.ConstraintType));
                AddAttributes(parameter);
            }
        }
        void AddMethod(MethodReference method)
        {
            Add(method.DeclaringType);
            Add(method.ReturnType);
            method.Parameters.ToList().ForEach(parameter => Add(parameter.ParameterType));
            if (method is GenericInstanceMethod generic)
            {
                generic.GenericArguments.ToList().ForEach(Add);
            }
        }

        Add(type.BaseType);
        type.Interfaces.ToList().ForEach(implemented => Add(implemented.InterfaceType));
        AddAttributes(type);
        AddGenericParameters(type);
        foreach (var field in type.Fields)
        {
            Add(field.FieldType);
            AddAttributes(field);
        }
        foreach (var property in type.Properties)
        {
            Add(property.PropertyType);
            AddAttributes(property);
        }
        foreach (var @event in type.Events)
        {
            Add(@event.EventType);
            AddAttributes(@event);
        }
        foreach (var method in type.Methods)
        {
            AddMethod(method);
            AddAttributes(method);
            AddAttributes(method.MethodReturnType);
            AddGenericParameters(method);
            method.Parameters.ToList().ForEach(AddAttributes);
            if (!method.HasBody)
            {
                continue;
            }
            method.Body.Variables.ToList().ForEach(local => Add(local.VariableType));
            method.Body.ExceptionHandlers.ToList().ForEach(handler => Add(handler.CatchType));
            foreach (var instruction in method.Body.Instructions)
            {
                switch (instruction.Operand)
                {
                    case TypeReference operand:
                        Add(operand);
                        break;
                    case MethodReference operand:
                        AddMethod(operand);
                        break;
                    case FieldReference operand:
                        Add(operand.DeclaringType);
                        Add(operand.FieldType);
                        break;
                }
            }
        }
        return found;
    }
}
