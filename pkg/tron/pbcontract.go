package tron

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/mongotron/mongotron/pkg/tron/tronpb"
)

// A contract's parameter is an Any holding the typed contract message.
// java-tron's HTTP API prints it by unpacking that message, so the JSON
// "value" has the contract type's own field names; [ContractValue] is the
// union of those names. The functions below do the same unpacking.

// unpack reads a contract value. Unknown fields are dropped: the JSON
// types have no place for them, and raw_data_hex keeps them anyway.
var unpack = proto.UnmarshalOptions{DiscardUnknown: true}

// contractValueFromPB fills v from the value of a contract of type t, as
// java-tron prints it, its hex through h.
func contractValueFromPB(h *hexer, v *ContractValue, t tronpb.Transaction_Contract_ContractType, b []byte) error {
	var err error
	switch t {
	case tronpb.Transaction_Contract_AccountCreateContract:
		var m tronpb.AccountCreateContract
		err = unpack.Unmarshal(b, &m)
		h.add(&v.OwnerAddress, m.OwnerAddress)
		h.add(&v.AccountAddress, m.AccountAddress)
		v.Type = int32(m.Type)
	case tronpb.Transaction_Contract_TransferContract:
		var m tronpb.TransferContract
		err = unpack.Unmarshal(b, &m)
		h.add(&v.OwnerAddress, m.OwnerAddress)
		h.add(&v.ToAddress, m.ToAddress)
		v.Amount = m.Amount
	case tronpb.Transaction_Contract_TransferAssetContract:
		var m tronpb.TransferAssetContract
		err = unpack.Unmarshal(b, &m)
		h.add(&v.AssetName, m.AssetName)
		h.add(&v.OwnerAddress, m.OwnerAddress)
		h.add(&v.ToAddress, m.ToAddress)
		v.Amount = m.Amount
	case tronpb.Transaction_Contract_VoteWitnessContract:
		var m tronpb.VoteWitnessContract
		err = unpack.Unmarshal(b, &m)
		h.add(&v.OwnerAddress, m.OwnerAddress)
		if len(m.Votes) > 0 {
			v.Votes = make([]VoteWitness, len(m.Votes))
			for i, vote := range m.Votes {
				h.add(&v.Votes[i].VoteAddress, vote.GetVoteAddress())
				v.Votes[i].VoteCount = vote.GetVoteCount()
			}
		}
	case tronpb.Transaction_Contract_FreezeBalanceContract:
		var m tronpb.FreezeBalanceContract
		err = unpack.Unmarshal(b, &m)
		h.add(&v.OwnerAddress, m.OwnerAddress)
		h.add(&v.ReceiverAddress, m.ReceiverAddress)
		v.FrozenBalance, v.FrozenDuration, v.Resource = m.FrozenBalance, m.FrozenDuration, enumString(m.Resource, true)
	case tronpb.Transaction_Contract_UnfreezeBalanceContract:
		var m tronpb.UnfreezeBalanceContract
		err = unpack.Unmarshal(b, &m)
		h.add(&v.OwnerAddress, m.OwnerAddress)
		h.add(&v.ReceiverAddress, m.ReceiverAddress)
		v.Resource = enumString(m.Resource, true)
	case tronpb.Transaction_Contract_FreezeBalanceV2Contract:
		var m tronpb.FreezeBalanceV2Contract
		err = unpack.Unmarshal(b, &m)
		h.add(&v.OwnerAddress, m.OwnerAddress)
		v.FrozenBalance, v.Resource = m.FrozenBalance, enumString(m.Resource, true)
	case tronpb.Transaction_Contract_UnfreezeBalanceV2Contract:
		var m tronpb.UnfreezeBalanceV2Contract
		err = unpack.Unmarshal(b, &m)
		h.add(&v.OwnerAddress, m.OwnerAddress)
		v.UnfreezeBalance, v.Resource = m.UnfreezeBalance, enumString(m.Resource, true)
	case tronpb.Transaction_Contract_DelegateResourceContract:
		var m tronpb.DelegateResourceContract
		err = unpack.Unmarshal(b, &m)
		h.add(&v.OwnerAddress, m.OwnerAddress)
		h.add(&v.ReceiverAddress, m.ReceiverAddress)
		v.Resource, v.Balance, v.Lock, v.LockPeriod = enumString(m.Resource, true), m.Balance, m.Lock, m.LockPeriod
	case tronpb.Transaction_Contract_UnDelegateResourceContract:
		var m tronpb.UnDelegateResourceContract
		err = unpack.Unmarshal(b, &m)
		h.add(&v.OwnerAddress, m.OwnerAddress)
		h.add(&v.ReceiverAddress, m.ReceiverAddress)
		v.Resource, v.Balance = enumString(m.Resource, true), m.Balance
	case tronpb.Transaction_Contract_CreateSmartContract:
		var m tronpb.CreateSmartContract
		err = unpack.Unmarshal(b, &m)
		h.add(&v.OwnerAddress, m.OwnerAddress)
		v.CallTokenValue, v.TokenID = m.CallTokenValue, m.TokenId
		if nc := m.NewContract; nc != nil {
			v.NewContract = &NewContract{Name: nc.Name, CallValue: nc.CallValue}
			h.add(&v.NewContract.OriginAddress, nc.OriginAddress)
			h.add(&v.NewContract.ContractAddress, nc.ContractAddress)
		}
	case tronpb.Transaction_Contract_TriggerSmartContract:
		var m tronpb.TriggerSmartContract
		err = unpack.Unmarshal(b, &m)
		h.add(&v.OwnerAddress, m.OwnerAddress)
		h.add(&v.ContractAddress, m.ContractAddress)
		h.add(&v.Data, m.Data)
		v.CallValue, v.CallTokenValue, v.TokenID = m.CallValue, m.CallTokenValue, m.TokenId
	default:
		f, ok := otherContracts[t]
		if !ok {
			// A type this package has no field numbers for: its value
			// stays empty, and the type and type URL still say what it is.
			return nil
		}
		err = f.read(h, v, b)
	}
	if err != nil {
		return fmt.Errorf("value: %w", err)
	}
	return nil
}

// contractValueToPB encodes v as the value of a contract of type t: the
// inverse of [contractValueFromPB] for the fields it reads.
func contractValueToPB(t tronpb.Transaction_Contract_ContractType, v *ContractValue) ([]byte, error) {
	var u unhexer
	owner := u.bytes("owner_address", v.OwnerAddress)
	var m proto.Message
	switch t {
	case tronpb.Transaction_Contract_AccountCreateContract:
		m = &tronpb.AccountCreateContract{OwnerAddress: owner, AccountAddress: u.bytes("account_address", v.AccountAddress), Type: tronpb.AccountType(v.Type)}
	case tronpb.Transaction_Contract_TransferContract:
		m = &tronpb.TransferContract{OwnerAddress: owner, ToAddress: u.bytes("to_address", v.ToAddress), Amount: v.Amount}
	case tronpb.Transaction_Contract_TransferAssetContract:
		m = &tronpb.TransferAssetContract{AssetName: u.bytes("asset_name", v.AssetName), OwnerAddress: owner, ToAddress: u.bytes("to_address", v.ToAddress), Amount: v.Amount}
	case tronpb.Transaction_Contract_VoteWitnessContract:
		vw := &tronpb.VoteWitnessContract{OwnerAddress: owner}
		for _, vote := range v.Votes {
			vw.Votes = append(vw.Votes, &tronpb.VoteWitnessContract_Vote{VoteAddress: u.bytes("vote_address", vote.VoteAddress), VoteCount: vote.VoteCount})
		}
		m = vw
	case tronpb.Transaction_Contract_FreezeBalanceContract,
		tronpb.Transaction_Contract_UnfreezeBalanceContract,
		tronpb.Transaction_Contract_FreezeBalanceV2Contract,
		tronpb.Transaction_Contract_UnfreezeBalanceV2Contract,
		tronpb.Transaction_Contract_DelegateResourceContract,
		tronpb.Transaction_Contract_UnDelegateResourceContract:
		res, err := enumValue[tronpb.ResourceCode]("resource", v.Resource)
		if err != nil {
			return nil, err
		}
		receiver := u.bytes("receiver_address", v.ReceiverAddress)
		switch t {
		case tronpb.Transaction_Contract_FreezeBalanceContract:
			m = &tronpb.FreezeBalanceContract{OwnerAddress: owner, FrozenBalance: v.FrozenBalance, FrozenDuration: v.FrozenDuration, Resource: res, ReceiverAddress: receiver}
		case tronpb.Transaction_Contract_UnfreezeBalanceContract:
			m = &tronpb.UnfreezeBalanceContract{OwnerAddress: owner, Resource: res, ReceiverAddress: receiver}
		case tronpb.Transaction_Contract_FreezeBalanceV2Contract:
			m = &tronpb.FreezeBalanceV2Contract{OwnerAddress: owner, FrozenBalance: v.FrozenBalance, Resource: res}
		case tronpb.Transaction_Contract_UnfreezeBalanceV2Contract:
			m = &tronpb.UnfreezeBalanceV2Contract{OwnerAddress: owner, UnfreezeBalance: v.UnfreezeBalance, Resource: res}
		case tronpb.Transaction_Contract_DelegateResourceContract:
			m = &tronpb.DelegateResourceContract{OwnerAddress: owner, Resource: res, Balance: v.Balance, ReceiverAddress: receiver, Lock: v.Lock, LockPeriod: v.LockPeriod}
		default:
			m = &tronpb.UnDelegateResourceContract{OwnerAddress: owner, Resource: res, Balance: v.Balance, ReceiverAddress: receiver}
		}
	case tronpb.Transaction_Contract_CreateSmartContract:
		cs := &tronpb.CreateSmartContract{OwnerAddress: owner, CallTokenValue: v.CallTokenValue, TokenId: v.TokenID}
		if nc := v.NewContract; nc != nil {
			cs.NewContract = &tronpb.SmartContract{
				OriginAddress:   u.bytes("new_contract.origin_address", nc.OriginAddress),
				ContractAddress: u.bytes("new_contract.contract_address", nc.ContractAddress),
				Name:            nc.Name,
				CallValue:       nc.CallValue,
			}
		}
		m = cs
	case tronpb.Transaction_Contract_TriggerSmartContract:
		m = &tronpb.TriggerSmartContract{
			OwnerAddress: owner, ContractAddress: u.bytes("contract_address", v.ContractAddress), CallValue: v.CallValue,
			Data: u.bytes("data", v.Data), CallTokenValue: v.CallTokenValue, TokenId: v.TokenID,
		}
	default:
		f, ok := otherContracts[t]
		if !ok {
			return nil, nil
		}
		b := f.append(&u, nil, v)
		return b, u.err
	}
	if u.err != nil {
		return nil, u.err
	}
	return proto.Marshal(m)
}

// valueFields are the numbers of the fields a contract type shares, by
// JSON name, with [ContractValue], for the types read without a typed
// message: those the decoder has no event for, and those whose event needs
// the owner only. The HTTP JSON of their value still fills these fields
// (the owner is a transaction's signer), so a block read over gRPC must
// fill them too. Zero means the type has no such field. Numbers are
// java-tron's (core/contract/*.proto).
type valueFields struct {
	owner, to, asset, amount, contract protowire.Number
}

var otherContracts = map[tronpb.Transaction_Contract_ContractType]valueFields{
	tronpb.Transaction_Contract_VoteAssetContract:               {owner: 1},
	tronpb.Transaction_Contract_WitnessCreateContract:           {owner: 1},
	tronpb.Transaction_Contract_AssetIssueContract:              {owner: 1},
	tronpb.Transaction_Contract_WitnessUpdateContract:           {owner: 1},
	tronpb.Transaction_Contract_ParticipateAssetIssueContract:   {owner: 1, to: 2, asset: 3, amount: 4},
	tronpb.Transaction_Contract_AccountUpdateContract:           {owner: 2},
	tronpb.Transaction_Contract_WithdrawBalanceContract:         {owner: 1},
	tronpb.Transaction_Contract_UnfreezeAssetContract:           {owner: 1},
	tronpb.Transaction_Contract_UpdateAssetContract:             {owner: 1},
	tronpb.Transaction_Contract_ProposalCreateContract:          {owner: 1},
	tronpb.Transaction_Contract_ProposalApproveContract:         {owner: 1},
	tronpb.Transaction_Contract_ProposalDeleteContract:          {owner: 1},
	tronpb.Transaction_Contract_SetAccountIdContract:            {owner: 2},
	tronpb.Transaction_Contract_UpdateSettingContract:           {owner: 1, contract: 2},
	tronpb.Transaction_Contract_ExchangeCreateContract:          {owner: 1},
	tronpb.Transaction_Contract_ExchangeInjectContract:          {owner: 1},
	tronpb.Transaction_Contract_ExchangeWithdrawContract:        {owner: 1},
	tronpb.Transaction_Contract_ExchangeTransactionContract:     {owner: 1},
	tronpb.Transaction_Contract_UpdateEnergyLimitContract:       {owner: 1, contract: 2},
	tronpb.Transaction_Contract_AccountPermissionUpdateContract: {owner: 1},
	tronpb.Transaction_Contract_ClearABIContract:                {owner: 1, contract: 2},
	tronpb.Transaction_Contract_UpdateBrokerageContract:         {owner: 1},
	tronpb.Transaction_Contract_MarketSellAssetContract:         {owner: 1},
	tronpb.Transaction_Contract_MarketCancelOrderContract:       {owner: 1},
	tronpb.Transaction_Contract_WithdrawExpireUnfreezeContract:  {owner: 1},
	tronpb.Transaction_Contract_CancelAllUnfreezeV2Contract:     {owner: 1},
}

var errBadValue = errors.New("malformed contract value")

// read fills v's shared fields from the encoded value b; a field that is
// repeated keeps its last value, as protobuf's own decoding does.
func (f valueFields) read(h *hexer, v *ContractValue, b []byte) error {
	var owner, to, asset, contract []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errBadValue
		}
		b = b[n:]
		switch {
		case typ == protowire.BytesType && num != 0 && (num == f.owner || num == f.to || num == f.asset || num == f.contract):
			val, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return errBadValue
			}
			b = b[n:]
			switch num {
			case f.owner:
				owner = val
			case f.to:
				to = val
			case f.asset:
				asset = val
			default:
				contract = val
			}
		case typ == protowire.VarintType && num != 0 && num == f.amount:
			val, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return errBadValue
			}
			b = b[n:]
			v.Amount = int64(val)
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return errBadValue
			}
			b = b[n:]
		}
	}
	h.add(&v.OwnerAddress, owner)
	h.add(&v.ToAddress, to)
	h.add(&v.AssetName, asset)
	h.add(&v.ContractAddress, contract)
	return nil
}

// append encodes v's shared fields in field-number order.
func (f valueFields) append(u *unhexer, b []byte, v *ContractValue) []byte {
	type field struct {
		num  protowire.Number
		hex  string
		name string
	}
	fields := []field{{f.owner, v.OwnerAddress, "owner_address"}, {f.to, v.ToAddress, "to_address"}, {f.asset, v.AssetName, "asset_name"}, {f.contract, v.ContractAddress, "contract_address"}}
	for num := protowire.Number(1); num <= 4; num++ {
		for _, fl := range fields {
			if fl.num == num && fl.hex != "" {
				val := u.bytes(fl.name, fl.hex)
				b = protowire.AppendTag(b, num, protowire.BytesType)
				b = protowire.AppendBytes(b, val)
			}
		}
		if f.amount == num && v.Amount != 0 {
			b = protowire.AppendTag(b, num, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(v.Amount))
		}
	}
	return b
}
